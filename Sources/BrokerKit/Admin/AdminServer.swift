import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Operator commands against a RUNNING broker (`fjmcp-broker sessions`, `fjmcp-broker revoke`)
/// over a Unix domain socket in the data directory. The socket is 0600, so file permissions are
/// the authentication: only the broker's own OS user can connect, and nothing is exposed on
/// the network listener.
public struct AdminServer: Sendable {
    public static func socketPath(dataDirectory: String) -> String {
        dataDirectory + "/admin.sock"
    }

    let host: ChildHost
    let bearer: BearerAuthenticator
    let store: any BrokerStore
    let logger: Logger
    let audit: AuditTrail?
    /// Replica mode: `/replicas` lists where children live; nil answers it 404.
    let placement: ChildPlacement?

    public init(host: ChildHost, bearer: BearerAuthenticator, store: any BrokerStore, logger: Logger, audit: AuditTrail? = nil,
                placement: ChildPlacement? = nil) {
        self.host = host
        self.placement = placement
        self.audit = audit
        self.bearer = bearer
        self.store = store
        self.logger = logger
    }

    /// The listener as a service for the broker's `ServiceGroup`. A socket file left by a
    /// previous run is removed first (binding would fail on it).
    public func service(socketPath path: String) -> any Service {
        try? FileManager.default.removeItem(atPath: path)
        let logger = logger
        return Application(router: router(), configuration: .init(address: .unixDomainSocket(path: path)), onServerRunning: { _ in
            if chmod(path, 0o600) != 0 { logger.error("admin socket permissions could not be restricted", metadata: ["path": "\(path)"]) }
            logger.notice("admin socket listening", metadata: ["path": "\(path)"])
        }, logger: logger)
    }

    /// The admin endpoints, without their socket.
    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/sessions") { _, _ in try await self.sessions() }
        router.get("/replicas") { _, _ in
            try await Self.answering("list the replicas' sessions", logger: self.logger) {
                guard let listing = try await self.replicaListing() else { throw HTTPError(.notFound, message: "replica mode is off") }
                return try Self.json(listing)
            }
        }
        router.post("/users/:login/revoke") { _, context in
            try await Self.answering("revoke the user", logger: self.logger) { try await self.revoke(login: context.parameters.require("login")) }
        }
        return router
    }

    /// Runs `work`; an error that is not already an HTTP answer (the database did not answer)
    /// becomes a 503 that says what failed, logged with its cause, instead of an empty 500 the
    /// command would print as "the broker answered 500: ". Blaming the database is right for
    /// every error these handlers can throw: their other steps are HTTP answers (404, a missing
    /// parameter) or cannot fail (encoding strings, numbers and dates).
    static func answering(_ what: String, logger: Logger, _ work: () async throws -> Response) async throws -> Response {
        do {
            return try await work()
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            logger.error("admin request failed", metadata: ["request": "\(what)", "error": "\(error)"])
            throw HTTPError(.serviceUnavailable, message: "could not \(what): the broker's database did not answer (see the broker's log)")
        }
    }

    private func sessions() async throws -> Response {
        try Self.json(await host.summaries())
    }

    /// Ends the user's sessions, user child, listen streams and parked calls, revokes their
    /// broker grants and forgets their Forgejo token set, so every client of theirs must sign in
    /// again.
    private func revoke(login: String) async throws -> Response {
        guard let user = try await store.user(login: login) else {
            throw HTTPError(.notFound, message: "no user with login \(login)")
        }
        let ended = await host.endUser(user.id, reason: .adminRevoked)
        let grants = try await bearer.revokeUser(userID: user.id)
        try await store.deleteUpstreamTokens(userID: user.id)
        audit?.record(AuditRecord(event: .revocation, user: user.login, client: nil, outcome: "ok", detail: "operator"))
        logger.notice("user revoked by operator", metadata: [
            "user": "\(login)", "user_id": "\(user.id)", "sessions_ended": "\(ended.sessions)",
            "user_children_ended": "\(ended.userChildren)", "grants_revoked": "\(grants.count)",
        ])
        return try Self.json(AdminRevocation(user: login, sessionsEnded: ended.sessions, userChildrenEnded: ended.userChildren,
                                             grantsRevoked: grants.count))
    }

    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}

/// What `fjmcp-broker revoke` did.
public struct AdminRevocation: Codable, Sendable, Equatable {
    public let user: String
    public let sessionsEnded: Int
    public let userChildrenEnded: Int
    public let grantsRevoked: Int

    enum CodingKeys: String, CodingKey {
        case user, sessionsEnded = "sessions_ended", userChildrenEnded = "user_children_ended", grantsRevoked = "grants_revoked"
    }
}
