import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// `/mcp` for the initialize-based protocol versions (2025-03-26 … 2025-11-25): POST carries
/// client messages, GET opens the server→client stream, DELETE ends the session. The route
/// group's `MCPAccessMiddleware` checks Host and Origin, then the bearer token; handlers check the
/// session binding. With `modern`, POSTs of the stateless 2026-07-28 era are served too
/// (`ModernEndpoint`), on the user's child of the same host.
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

    let host: ChildHost
    let bearer: BearerAuthenticator
    let policy: MCPRequestPolicy
    let options: Options
    /// The tool policy (both eras): refused calls are answered here, lists are filtered.
    let tools: ToolGate
    /// Where tool calls are recorded; nil: nowhere.
    let audit: AuditTrail?
    /// The stateless 2026-07-28 era on the same endpoint; nil serves the legacy eras only.
    let modern: ModernEndpoint?
    /// Replica mode: forwards requests whose child another replica holds; nil (one broker per
    /// database) adds nothing to the route group.
    let hop: ReplicaHopMiddleware?

    /// `modern` turns on the 2026-07-28 era (its requests run on the host's user children).
    public init(host: ChildHost, bearer: BearerAuthenticator, publicURL: PublicURL, options: Options = Options(), modern: Bool = true,
                tools: ToolGate = ToolGate(policy: ToolPolicy()), audit: AuditTrail? = nil, hop: ReplicaHopMiddleware? = nil) {
        self.host = host
        self.hop = hop
        self.tools = tools
        self.audit = audit
        self.bearer = bearer
        self.policy = MCPRequestPolicy(publicURL: publicURL)
        self.options = options
        self.modern = modern
            ? ModernEndpoint(host: host, jsonWindow: options.jsonWindow, keepAliveInterval: options.keepAliveInterval,
                             cacheTTLMilliseconds: options.modernCacheTTLMilliseconds, loginChallenge: bearer.missingTokenChallenge,
                             tools: tools, audit: audit)
            : nil
    }

    /// Tests reach the parked MRTR calls (shorter timeouts, counts).
    public var parking: ModernInputParking? { modern?.parking }

    public func addRoutes(to router: Router<BrokerRequestContext>) {
        let group = router.group("/mcp").add(middleware: MCPAccessMiddleware(policy: policy, bearer: bearer))
        if let hop { group.add(middleware: hop) }
        group
            .post { request, context in try await self.post(request, context: context) }
            .get { request, context in try await self.openServerStream(request, context: context) }
            .delete { request, context in try await self.delete(request, context: context) }
    }

    private func post(_ request: Request, context: BrokerRequestContext) async throws -> Response {
        let owner = try context.owner
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
        if let refused = refusal(of: message, owner: owner) { return Self.json(refused) }
        let isInitialize = message.kind == .request && message.method == "initialize"
        guard let sessionID = request.headers.value(.mcpSessionID) else {
            if isInitialize { return try await initialize(message, owner: owner, context: context) }
            if message.kind == .batch, Self.containsInitialize(message) { throw MCPRequestError.initializeInBatch }
            return try await sessionless(message, owner: owner, request: request)
        }
        guard !isInitialize else { throw MCPRequestError.initializeWithSession }
        let lease = try await acquire(sessionID, owner: owner, rawID: message.rawID,
                                      call: message.kind == .request || message.kind == .batch)
        do {
            try policy.checkProtocolVersion(request, negotiated: lease.child.protocolVersion)
        } catch {
            await lease.release()
            throw error
        }
        return try await dispatch(message, lease: lease, owner: owner, request: request, context: context)
    }

    private func initialize(_ message: JSONRPCMessage, owner: SessionOwner, context: BrokerRequestContext) async throws -> Response {
        let opening: SessionOpening
        do {
            opening = try await host.open(owner: owner, initialize: message)
        } catch {
            context.logger.warning("session could not be opened", metadata: ["user": "\(owner.login)", "error": "\(error.message)"])
            throw MCPRequestError.session(error, rawID: message.rawID, challenge: challenge(for: error))
        }
        switch opening {
        case .opened(let id, let response):
            return Self.json(response, headers: [.mcpSessionID: id])
        case .rejected(let response):
            return Self.json(response)
        }
    }

    private func acquire(_ id: String, owner: SessionOwner, rawID: [UInt8]?, call: Bool) async throws(MCPRequestError) -> ChildLease {
        do {
            return try await host.acquire(id: id, owner: owner, call: call)
        } catch {
            throw .session(error, rawID: rawID, challenge: nil)
        }
    }

    private func delete(_ request: Request, context: BrokerRequestContext) async throws -> Response {
        let owner = try context.owner
        guard let sessionID = request.headers.value(.mcpSessionID) else { throw MCPRequestError.sessionRequired }
        do throws(SessionError) {
            try await host.delete(id: sessionID, owner: owner)
        } catch {
            throw MCPRequestError.session(error, rawID: nil, challenge: nil)
        }
        return Response(status: .noContent)
    }

    func challenge(for error: SessionError) -> String? {
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
        fields.replaceOrAppend(jsonContentType)
        return Response(status: .ok, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    private static let jsonContentType = HTTPField(name: .contentType, value: "application/json")
}
