/// Answers the authorization server's question on every broker refresh: may this user's client
/// keep going? Dead only when the token set is gone; transient only when the last refresh failed
/// for now and the stored access token has already expired (until then nothing is wrong yet).
extension UpstreamTokenManager: UpstreamGrantState {
    public func check(userID: Int64) async -> UpstreamGrantStatus {
        let stored: StoredUpstreamTokens?
        do {
            stored = try await refresher.load(userID: userID)
        } catch {
            return .transient
        }
        guard let stored else { return .dead }
        if transientFailures[userID] != nil && stored.isExpired(at: clock.now()) { return .transient }
        return .alive
    }

    /// Adopts the set a login stored: announced like a refresh (the user's children swap to it,
    /// so none keeps a token whose grant the user may just have re-created at Forgejo) and the
    /// schedule follows it. A refresh still running finishes first: its store write lost the
    /// compare-and-swap to the login's, or came before it; either way the login's set is newest.
    public func loggedIn(userID: Int64) async {
        if let running = inFlight[userID] { _ = await running.value }
        guard let stored = try? await refresher.load(userID: userID) else { return }
        _ = await conclude(.adopted(stored), userID: userID)
    }
}
