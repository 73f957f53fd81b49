/// Whom a session belongs to. A session id is only honoured together with a bearer token of
/// the same user AND client, so a leaked id is useless to anyone else (MCP security best
/// practices: session ids are never authentication).
public struct SessionOwner: Sendable, Equatable {
    public let userID: Int64
    public let login: String
    public let clientID: String
    /// The grant the bearer token was issued from; a session record dies with it.
    public let grantID: String?

    public init(userID: Int64, login: String, clientID: String, grantID: String? = nil) {
        self.userID = userID
        self.login = login
        self.clientID = clientID
        self.grantID = grantID
    }

    public init(_ principal: AuthenticatedPrincipal) {
        self.init(userID: principal.userID, login: principal.login, clientID: principal.clientID, grantID: principal.grantID)
    }
}

/// Why a session ended; the label goes into the session-end log line and metrics.
public enum SessionEndReason: Sendable, Equatable, CustomStringConvertible {
    case clientDeleted
    case idle
    case maxLifetime
    case evicted
    case childExited(ChildExit)
    case userSessionsEnded
    /// The user's Forgejo authorization is gone (revoked or expired): they must sign in again.
    case upstreamGrantDead
    /// The child's Forgejo token expired and no child with a newer one could be started: the
    /// client re-initializes rather than talk to a child whose every Forgejo call fails.
    case upstreamTokenExpired
    /// The client revoked its grant (`/oauth/revoke`).
    case grantRevoked
    /// An operator ran `fjmcp-broker revoke`.
    case adminRevoked
    case shutdown
    /// Replica mode: another replica holds the child's key now (it took the child over while
    /// this replica's heartbeat did not reach the store); the session lives on there.
    case takenOver

    public var label: String {
        switch self {
        case .clientDeleted: "client_deleted"
        case .idle: "idle_timeout"
        case .maxLifetime: "max_lifetime"
        case .evicted: "evicted_for_new_session"
        case .childExited: "child_exited"
        case .userSessionsEnded: "user_sessions_ended"
        case .upstreamGrantDead: "upstream_grant_dead"
        case .upstreamTokenExpired: "upstream_token_expired"
        case .grantRevoked: "grant_revoked"
        case .adminRevoked: "admin_revoked"
        case .shutdown: "broker_shutdown"
        case .takenOver: "taken_over"
        }
    }

    public var description: String {
        switch self {
        case .childExited(let exit): "\(label) (\(exit))"
        default: label
        }
    }

    /// Whether the session is over for good (its record ends: the id answers 404 from then on).
    /// Anything else only frees the child; the session resumes on a new one at its next request.
    public var endsSession: Bool {
        switch self {
        case .clientDeleted, .maxLifetime, .userSessionsEnded, .upstreamGrantDead, .grantRevoked, .adminRevoked: true
        case .idle, .evicted, .childExited, .upstreamTokenExpired, .shutdown, .takenOver: false
        }
    }
}
