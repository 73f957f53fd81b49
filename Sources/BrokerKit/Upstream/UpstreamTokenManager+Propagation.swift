/// Token sets rotated by another broker process on the same database.
extension UpstreamTokenManager {
    /// Adopts the stored set as a refresh here does when it loses the compare-and-swap: listeners
    /// hear `.refreshed` with the new generation, so the child rotation swaps the user's children
    /// now instead of at their token's expiry. Only for users whose sessions this process tracks
    /// (the others have nothing to swap, and each adoption re-runs the sign-in policy check), and
    /// not while a refresh of the user runs here (it meets the new set itself).
    func adoptStoredSet(userID: Int64, version: Int64) async {
        guard trackCounts[userID] != nil, inFlight[userID] == nil else { return }
        do {
            guard let stored = try await refresher.load(userID: userID), stored.version >= version,
                  // Re-checked after the read: a local refresh may have started, or even concluded
                  // with a newer set, meanwhile (versions only rise, tombstones included).
                  inFlight[userID] == nil, stored.version > announced[userID] ?? 0
            else { return }
            _ = await conclude(.adopted(stored), userID: userID)
        } catch {
            // The user's next refresh here reads the store again.
            logger.warning("set rotated by another broker not adopted", metadata: ["user_id": "\(userID)", "error": "\(error)"])
        }
    }
}
