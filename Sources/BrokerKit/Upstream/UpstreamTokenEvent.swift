/// What the token manager tells its listeners (sessions, the bearer cache).
public enum UpstreamTokenEvent: Sendable, Equatable {
    /// A newer token set is stored (refreshed here or adopted from another process); sessions
    /// whose child runs an older generation swap it.
    case refreshed(userID: Int64, token: UpstreamAccessToken)
    /// The user's Forgejo authorization is gone for good: the token set is deleted and the
    /// broker grants are revoked; sessions end and cached bearer tokens must be dropped.
    case dead(userID: Int64, reason: String)
}
