/// Why `UpstreamTokenManager` could not produce a Forgejo access token, in the two classes a
/// caller acts on. Carries only reason codes (the `UpstreamError` ones or the manager's own),
/// never a token.
public enum UpstreamTokenFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// Final: the token set is gone (and the user's broker grants are revoked); the user must
    /// sign in again.
    case loginRequired(reason: String)
    /// Forgejo, the store or the broker's own Forgejo setup failed for now, and no access token
    /// with time left is available; try again later, never log the user out for this.
    case unavailable(reason: String)

    public var reasonCode: String {
        switch self {
        case .loginRequired(let reason), .unavailable(let reason): reason
        }
    }

    public var description: String {
        switch self {
        case .loginRequired(let reason): "login required (\(reason))"
        case .unavailable(let reason): "temporarily unavailable (\(reason))"
        }
    }
}
