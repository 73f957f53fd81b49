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
}
