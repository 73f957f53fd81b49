/// Why a session could not be opened or found. Each case is exactly one HTTP status and one
/// JSON-RPC error; the MCP endpoint renders them.
public enum SessionError: Error, Sendable, Equatable {
    /// A per-user or global cap is reached and no idle session could make room.
    case limitReached(String)
    case shuttingDown
    /// The user's Forgejo credentials are gone: a 401 makes the client sign in again.
    case loginRequired(reason: String)
    /// Forgejo credentials cannot be read or refreshed right now.
    case upstreamUnavailable(reason: String)
    /// Session records cannot be read right now: the session may well be resumable later.
    case storeUnavailable
    /// The child could not be spawned, exited, or did not answer `initialize`.
    case childStartFailed(String)
    /// Unknown, ended, or another user's session (indistinguishable on purpose).
    case notFound
    /// The user started too many children lately (`FJMCP_RATE_LIMIT_SPAWN`): 429, try again
    /// after `retryAfter` seconds.
    case rateLimited(retryAfter: Int)
    /// The MCP server runs but is not reading its input (a long call keeps it from it): this
    /// request was not sent; 503 with `Retry-After`, the server and its other calls go on.
    case childBusy
    /// Another replica with a live heartbeat holds this session's (or user's) child: the replica
    /// forwarding hop sends the request there. Seen by a client only when the hop is not
    /// possible (503, try again).
    case heldElsewhere(ReplicaRecord)

    public var httpStatus: Int {
        switch self {
        case .limitReached, .shuttingDown, .upstreamUnavailable, .storeUnavailable, .childBusy, .heldElsewhere: 503
        case .loginRequired: 401
        case .childStartFailed: 502
        case .notFound: 404
        case .rateLimited: 429
        }
    }

    public var rpcCode: Int {
        switch self {
        case .notFound: -32600
        case .limitReached, .shuttingDown, .loginRequired, .upstreamUnavailable, .storeUnavailable, .childStartFailed, .rateLimited,
            .childBusy, .heldElsewhere:
            -32603
        }
    }

    public var message: String {
        switch self {
        case .limitReached(let reason): "Session limit reached: \(reason)"
        case .shuttingDown: "The broker is shutting down"
        case .loginRequired(let reason): "Forgejo authorization is no longer valid (\(reason)); sign in again"
        case .upstreamUnavailable(let reason): "Forgejo credentials are temporarily unavailable (\(reason))"
        case .storeUnavailable: "The session store is temporarily unavailable; try again"
        case .childStartFailed(let detail): "The MCP server failed to start: \(detail)"
        case .notFound: "Session not found"
        case .rateLimited(let seconds): "Too many MCP server starts for this user; try again in \(seconds) s"
        case .childBusy: "The MCP server is not reading its input; try again"
        case .heldElsewhere: "The session is held by another broker replica that cannot be reached; try again"
        }
    }

    /// Seconds for the `Retry-After` header of an answer the client should simply repeat later.
    public var retryAfter: Int? {
        switch self {
        case .rateLimited(let seconds): seconds
        case .childBusy, .heldElsewhere: 1
        default: nil
        }
    }
}
