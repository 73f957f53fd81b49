import Foundation
import Hummingbird
import Logging
import NIOCore

/// `/mcp` for the initialize-based protocol versions (2025-03-26 … 2025-11-25): POST carries
/// client messages, GET opens the server→client stream, DELETE ends the session. Every method
/// checks Host and Origin, then the bearer token, then the session binding. With a
/// `ModernChildPool`, POSTs of the stateless 2026-07-28 era are served too (`ModernEndpoint`).
public struct MCPEndpoint: RouteProvider {
    public struct Options: Sendable {
        /// How long a request may wait for its answer before the reply switches to SSE, so that
        /// a long tool call gets keep-alives and notices a client that went away.
        public var jsonWindow: Duration = .seconds(1)
        public var keepAliveInterval: Duration = .seconds(15)
        /// `ttlMs` on 2026-07-28 list/read results: short, since without `subscriptions/listen`
        /// a client cannot hear that a list changed.
        public var modernCacheTTLMilliseconds = 60_000

        public init() {}
    }

    let registry: SessionRegistry
    let bearer: BearerAuthenticator
    let policy: MCPRequestPolicy
    let options: Options
    /// The stateless 2026-07-28 era on the same endpoint; nil serves the legacy eras only.
    let modern: ModernEndpoint?

    /// `modernPool` turns on the 2026-07-28 era (its requests run on that pool's per-user children).
    public init(registry: SessionRegistry, bearer: BearerAuthenticator, publicURL: PublicURL, options: Options = Options(),
                modernPool: ModernChildPool? = nil) {
        self.registry = registry
        self.bearer = bearer
        self.policy = MCPRequestPolicy(publicURL: publicURL)
        self.options = options
        self.modern = modernPool.map {
            ModernEndpoint(pool: $0, jsonWindow: options.jsonWindow, keepAliveInterval: options.keepAliveInterval,
                           cacheTTLMilliseconds: options.modernCacheTTLMilliseconds, loginChallenge: bearer.missingTokenChallenge)
        }
    }

    public func addRoutes(to router: Router<BrokerRequestContext>) {
        router.post("/mcp") { request, context in try await self.post(request, context: context) }
        router.get("/mcp") { request, context in try await self.openServerStream(request, context: context) }
        router.delete("/mcp") { request, context in try await self.delete(request, context: context) }
    }

    /// Host, Origin and bearer checks common to every method; returns the session owner.
    func admit(_ request: Request, context: BrokerRequestContext) async throws -> SessionOwner {
        try policy.checkHost(request)
        try policy.checkOrigin(request)
        return SessionOwner(try await bearer.authenticate(request, context: context))
    }

    private func post(_ request: Request, context: BrokerRequestContext) async throws -> Response {
        let owner = try await admit(request, context: context)
        try policy.checkContentType(request)
        try policy.checkPostAccept(request)
        // collectBody keeps the original stream behind the buffer, which the SSE writer
        // needs to notice a client that disconnects (consumeWithCancellationOnInboundClose).
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        let message: JSONRPCMessage
        do {
            message = try JSONRPCMessage(Array(buffer: body), memberNames: .strict)
        } catch {
            throw MCPRequestError.malformed(error)
        }
        if let modern, let response = try await modern.respond(to: message, request: request, owner: owner) { return response }
        let isInitialize = message.kind == .request && message.method == "initialize"
        guard let sessionID = request.headers[.mcpSessionID] else {
            if isInitialize { return try await initialize(message, owner: owner, context: context) }
            if message.kind == .batch, Self.containsInitialize(message) { throw MCPRequestError.initializeInBatch }
            throw MCPRequestError.sessionRequired
        }
        guard !isInitialize else { throw MCPRequestError.initializeWithSession }
        let session = try await acquire(sessionID, owner: owner, rawID: message.rawID)
        let lease = SessionLease(registry: registry, id: sessionID)
        do {
            try policy.checkProtocolVersion(request, negotiated: session.protocolVersion)
            return try await dispatch(message, session: session, lease: lease, request: request, context: context)
        } catch {
            await lease.release()
            throw error
        }
    }

    private func initialize(_ message: JSONRPCMessage, owner: SessionOwner, context: BrokerRequestContext) async throws -> Response {
        let opening: SessionOpening
        do {
            opening = try await registry.open(owner: owner, initialize: message)
        } catch {
            context.logger.warning("session could not be opened", metadata: ["user": "\(owner.login)", "error": "\(error.message)"])
            throw MCPRequestError.session(error, rawID: message.rawID, challenge: challenge(for: error))
        }
        switch opening {
        case .opened(let session, let response):
            return Self.json(response, headers: [.mcpSessionID: session.id])
        case .rejected(let response):
            return Self.json(response)
        }
    }

    private func acquire(_ id: String, owner: SessionOwner, rawID: [UInt8]?) async throws(MCPRequestError) -> Session {
        do {
            return try await registry.acquire(id: id, owner: owner)
        } catch {
            throw .session(error, rawID: rawID, challenge: nil)
        }
    }

    private func delete(_ request: Request, context: BrokerRequestContext) async throws -> Response {
        let owner = try await admit(request, context: context)
        guard let sessionID = request.headers[.mcpSessionID] else { throw MCPRequestError.sessionRequired }
        do throws(SessionError) {
            _ = try await registry.lookup(id: sessionID, owner: owner)
        } catch {
            throw MCPRequestError.session(error, rawID: nil, challenge: nil)
        }
        await registry.end(sessionID, reason: .clientDeleted)
        return Response(status: .noContent)
    }

    private func challenge(for error: SessionError) -> String? {
        guard case .loginRequired = error else { return nil }
        return bearer.missingTokenChallenge
    }

    private static func containsInitialize(_ batch: JSONRPCMessage) -> Bool {
        batch.batchElements().contains { element in
            if case .success(let message) = element { return message.method == "initialize" }
            return false
        }
    }

    static func json(_ bytes: [UInt8], headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: .ok, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// One request's hold on a session: while held, the session is busy and never reaped as idle.
struct SessionLease: Sendable {
    let registry: SessionRegistry
    let id: String

    func release() async {
        await registry.release(id: id)
    }
}
