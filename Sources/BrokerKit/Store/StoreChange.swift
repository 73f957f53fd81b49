import Foundation

/// Something one broker process changed in the shared database that other processes on the same
/// database hold in memory (cached bearer tokens, sessions, children) and must drop or re-read.
/// Only ids and versions, never a token: the payload travels through the database server's notification queue.
public enum StoreChange: Sendable, Equatable {
    /// One client's grant of a user (`/oauth/revoke`, refresh-token replay, a dead grant).
    case grantRevoked(userID: Int64, clientID: String)
    /// Every grant of a user (`revoke --user`, a dead Forgejo authorization, the sign-in policy).
    case userRevoked(userID: Int64)
    /// A process rotated the user's Forgejo token set at Forgejo and stored it as `version`.
    case upstreamTokensChanged(userID: Int64, version: Int64)

    /// Why a notification's payload was not understood: a broker of another version, or
    /// something else notifying on the broker's channel. Logged and skipped, never applied.
    public enum PayloadError: Error, Equatable, CustomStringConvertible {
        case malformed
        case unknownKind(String)

        /// Without the kind's text: the payload is another program's, and logs get no part of it.
        public var description: String {
            switch self {
            case .malformed: "malformed"
            case .unknownKind: "unknown kind"
            }
        }
    }

    /// The wire form: `{"origin":"…","kind":"grant_revoked","user":42,"client":"…"}`. `origin` is
    /// the publishing process's id, so a process skips its own notifications (it applied the
    /// change already, synchronously).
    private struct Message: Codable {
        var origin: String
        var kind: String
        var user: Int64
        var client: String?
        var version: Int64?
    }

    func payload(origin: String) -> String {
        let message = switch self {
        case .grantRevoked(let userID, let clientID): Message(origin: origin, kind: "grant_revoked", user: userID, client: clientID)
        case .userRevoked(let userID): Message(origin: origin, kind: "user_revoked", user: userID)
        case .upstreamTokensChanged(let userID, let version):
            Message(origin: origin, kind: "upstream_tokens_changed", user: userID, version: version)
        }
        // Encoding a struct of strings and integers cannot fail.
        let data = (try? JSONEncoder().encode(message)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func decode(_ payload: String) throws(PayloadError) -> (origin: String, change: StoreChange) {
        guard let message = try? JSONDecoder().decode(Message.self, from: Data(payload.utf8)) else { throw .malformed }
        switch message.kind {
        case "grant_revoked":
            guard let client = message.client else { throw .malformed }
            return (message.origin, .grantRevoked(userID: message.user, clientID: client))
        case "user_revoked":
            return (message.origin, .userRevoked(userID: message.user))
        case "upstream_tokens_changed":
            guard let version = message.version else { throw .malformed }
            return (message.origin, .upstreamTokensChanged(userID: message.user, version: version))
        default:
            throw .unknownKind(message.kind)
        }
    }

    /// For logs: what changed, without ids.
    var kind: String {
        switch self {
        case .grantRevoked: "grant_revoked"
        case .userRevoked: "user_revoked"
        case .upstreamTokensChanged: "upstream_tokens_changed"
        }
    }
}

/// Tells the other broker processes on the same database about a change. Only PostgreSQL has
/// other processes (SQLite is one process's file), so on SQLite there is no publisher at all.
public protocol StoreChangePublisher: Sendable {
    /// Best effort: a failure is logged, not thrown. The change is already committed, and what
    /// other processes cache expires within the bearer cache's TTL anyway.
    func publish(_ change: StoreChange) async
}

/// What a process does with other processes' changes.
public protocol StoreChangeConsumer: Sendable {
    func apply(_ change: StoreChange) async
    /// Called after every (re)connect of the listener: notifications sent while it was not
    /// listening are lost, so whatever they could have invalidated is re-read from the store.
    func resynchronize() async
}
