/// Sessions' view of the broker's one `UpstreamTokenManager`: a new child gets a token with at
/// least `minimumRemaining` left, or the token's own lifetime-derived minimum when that is less
/// (`UpstreamTokenThresholds.minimumRemainingForNewChild`; refreshed on demand, single-flight
/// with the scheduler, rate-limited per user), and tracking a user keeps their token refreshed
/// ahead of expiry while they have sessions.
public struct ManagedUpstreamTokenProvider: UpstreamTokenProvider {
    private let manager: UpstreamTokenManager
    private let minimumRemaining: Duration

    /// - Parameter minimumRemaining: the cap: enough for a child to start and answer
    ///   `initialize` with a stock one-hour token. Shorter tokens need proportionally less.
    public init(manager: UpstreamTokenManager, minimumRemaining: Duration = .seconds(120)) {
        self.manager = manager
        self.minimumRemaining = minimumRemaining
    }

    public func accessToken(userID: Int64) async throws(UpstreamCredentialError) -> UpstreamCredential {
        let token: UpstreamAccessToken
        do {
            token = try await manager.validAccessToken(userID: userID, minimumRemaining: minimumRemaining)
        } catch {
            switch error {
            case .loginRequired(let reason): throw .loginRequired(reason: reason)
            case .unavailable(let reason): throw .unavailable(reason: reason)
            }
        }
        return UpstreamCredential(token: token.token, expiresAt: token.expiresAt, generation: token.generation,
                                  thresholds: token.thresholds)
    }

    public func track(userID: Int64) async {
        await manager.track(userID: userID)
    }

    public func untrack(userID: Int64) async {
        await manager.untrack(userID: userID)
    }
}
