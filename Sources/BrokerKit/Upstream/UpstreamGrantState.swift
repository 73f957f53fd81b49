/// Whether a user's Forgejo authorization still stands, asked on every broker refresh so a
/// client is not kept alive on a Forgejo grant the user revoked. Implemented by the component
/// that owns upstream refresh; the authorization server only maps the answer.
public protocol UpstreamGrantState: Sendable {
    func check(userID: Int64) async -> UpstreamGrantStatus
    /// A broker refresh token of the user was redeemed: a reason to check the Forgejo token
    /// itself (a client that refreshes is alive, and so should its grant be). Never waits.
    func refreshRedeemed(userID: Int64)
}

extension UpstreamGrantState {
    /// Without upstream truth checks a refresh is no news.
    public func refreshRedeemed(userID: Int64) {}
}

public enum UpstreamGrantStatus: Sendable, Equatable {
    case alive
    /// Final: the broker grant is revoked and the refresh answers `invalid_grant`.
    case dead
    /// Forgejo could not tell right now: `503 temporarily_unavailable`, never a forced logout.
    case transient
}

/// The default until upstream grant tracking exists: never blocks a refresh.
public struct AssumeUpstreamGrantAlive: UpstreamGrantState {
    public init() {}
    public func check(userID: Int64) async -> UpstreamGrantStatus { .alive }
}
