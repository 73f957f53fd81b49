/// Whether a user's Forgejo authorization still stands, asked on every broker refresh so a
/// client is not kept alive on a Forgejo grant the user revoked. Implemented by the component
/// that owns upstream refresh; the authorization server only maps the answer.
public protocol UpstreamGrantState: Sendable {
    func check(userID: Int64) async -> UpstreamGrantStatus
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
