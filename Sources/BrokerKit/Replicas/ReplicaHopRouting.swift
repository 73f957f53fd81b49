extension ChildHost {
    /// Replica mode: makes sure a request for `userID`'s child (the 2026-07-28 era's and
    /// session-less requests') is served where that child runs. Throws `.heldElsewhere` as the
    /// endpoint's error when another live replica holds it, which the hop turns into a forward;
    /// returns when the child runs here or may start here. For the paths that look for the child
    /// without starting it (an MRTR retry's parked call, a session-less answer or cancellation):
    /// without this they would find nothing here and fail or drop the message. With one broker
    /// per database it returns at once, without an actor hop.
    nonisolated func routeUserChildHere(_ userID: Int64, rawID: [UInt8]?) async throws(MCPRequestError) {
        guard placement != nil else { return }
        do throws(SessionError) {
            try await claimHere(.user(userID))
        } catch {
            throw .session(error, rawID: rawID, challenge: nil)
        }
    }
}
