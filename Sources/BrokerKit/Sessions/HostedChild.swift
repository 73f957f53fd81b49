import Foundation
import Synchronization

/// Which child a lease is on. A legacy session has a child of its own, initialized with the
/// client's own `initialize`; a user's shared child (2026-07-28 requests, which carry no session)
/// is initialized by the broker. Both are hosted, capped, reaped, rotated and stopped alike.
public enum ChildKey: Hashable, Sendable, CustomStringConvertible {
    case session(String)
    case user(Int64)

    public var description: String {
        switch self {
        case .session(let id): "session \(id)"
        case .user(let userID): "user child \(userID)"
        }
    }

    /// What logs call it.
    public var noun: String {
        switch self {
        case .session: "session"
        case .user: "user child"
        }
    }

    /// `session` or `user`, for logs, metrics and the operator's `sessions` listing.
    public var kind: String {
        switch self {
        case .session: "session"
        case .user: "user"
        }
    }
}

/// A request sent through a hosted child, tied to the bridge that took it: with a child swap the
/// current bridge may change while this call is still answered by the old one.
struct SessionTicket: Sendable {
    let bridge: ChildBridge
    let ticket: BridgeTicket

    /// Tells the child that took the request to stop (client went away).
    func cancel(reason: String) async {
        await bridge.cancel(ticket, reason: reason)
    }
}

/// A `SessionTicket` with the request's own event stream (`HostedChild.send(_:)`).
public struct SessionCall: Sendable {
    let ticket: SessionTicket
    public let events: AsyncStream<BridgeEvent>

    /// Tells the child that took the request to stop (client went away).
    public func cancel(reason: String) async {
        await ticket.cancel(reason: reason)
    }

    /// The final response, skipping side messages; nil when none arrives within `timeout`.
    func response(within timeout: Duration) async -> [UInt8]? {
        await BridgeCall(ticket: ticket.ticket, events: events).response(within: timeout)
    }
}

/// One hosted conversation with a child process, which outlives any single process: it keeps
/// the `initialize` and `notifications/initialized` that made its child what it is, so replacing
/// the child (token rotation) is "start a new bridge, replay both, swap `bridge`". What the
/// child says that belongs to no request goes to one handler, set by the host per kind (the
/// session's GET stream, or the user's listeners).
public actor HostedChild {
    public nonisolated let key: ChildKey
    /// The `Mcp-Session-Id` of a legacy session; nil for a user child.
    public nonisolated var sessionID: String? {
        if case .session(let id) = key { return id }
        return nil
    }
    /// Who started it. For a user child the client is the first one; any client of the user may use it.
    public nonisolated let owner: SessionOwner
    /// The version the child answered `initialize` with; HTTP rules (header, batching) follow it.
    public nonisolated let protocolVersion: String
    nonisolated let handshake: ChildHandshake
    /// What the child said about itself when it was initialized.
    public nonisolated let server: ChildServerInfo
    /// The child's tools as far as the broker needs them (read for user children only).
    nonisolated let tools = ChildTools()
    public nonisolated let createdAt: ContinuousClock.Instant
    public private(set) var initializedNotification: [UInt8]?
    /// Log level and subscriptions the client set (legacy sessions), replayed on a new child.
    private(set) var state: SessionState
    /// The Forgejo credential the current child runs with (expiry and generation, no token).
    /// Read without a hop onto this actor: every request on a user child checks its expiry.
    public nonisolated var credential: UpstreamCredential { currentCredential.withLock { $0 } }
    private nonisolated let currentCredential: Mutex<UpstreamCredential>
    /// The child taking new requests. Read without a hop onto this actor (every forwarded
    /// request needs it, both eras); only a swap changes it.
    private nonisolated let current: Mutex<ChildBridge>
    private nonisolated var bridge: ChildBridge { current.withLock { $0 } }
    /// Replaced children still answering requests they took before a swap.
    private var retiring: [ChildBridge] = []
    private var drains: [ObjectIdentifier: Task<Void, Never>] = [:]
    /// The session's server→client stream (legacy `GET /mcp`), bounded by the host's
    /// `maxBufferedEventBytes` like every other buffer a slow reader can grow.
    let serverStream: ServerStreamHub
    private var unattributed: (@Sendable (HostedChild, [UInt8]) async -> Void)?
    private var pumps: [ObjectIdentifier: Task<Void, Never>] = [:]
    private var stopped = false

    /// `createdAt` is the conversation's start: a resumed session keeps its original age.
    /// `streamByteLimit` bounds the GET stream and its backlog.
    init(key: ChildKey, owner: SessionOwner, handshake: ChildHandshake, server: ChildServerInfo, bridge: ChildBridge,
         credential: UpstreamCredential, streamByteLimit: Int, createdAt: ContinuousClock.Instant = .now) {
        self.key = key
        self.serverStream = ServerStreamHub(byteLimit: streamByteLimit)
        self.owner = owner
        self.handshake = handshake
        self.protocolVersion = server.protocolVersion
        self.server = server
        self.createdAt = createdAt
        current = Mutex(bridge)
        currentCredential = Mutex(credential)
        self.initializedNotification = handshake.initialized
        self.state = handshake.state
    }

    /// The handshake a new child of this conversation gets: the original one, with what the
    /// client has set since.
    var currentHandshake: ChildHandshake {
        var current = handshake
        current.initialized = initializedNotification
        current.state = state
        return current
    }

    /// Notes session state a client request sets; true when it changed (worth persisting).
    func note(_ request: JSONRPCMessage) -> Bool {
        state.note(request)
    }

    /// Starts handing the child's unsolicited messages to `handler`, for this child and every
    /// later one of the conversation.
    func startForwarding(to handler: @escaping @Sendable (HostedChild, [UInt8]) async -> Void) {
        unattributed = handler
        forward(from: bridge)
    }

    /// Every child of the conversation feeds the same handler, so a client's open stream survives
    /// a swap; a replaced child's pump ends when that child exits.
    private func forward(from bridge: ChildBridge) {
        guard let handler = unattributed else { return }
        let messages = bridge.serverStream
        pumps[ObjectIdentifier(bridge)] = Task { [weak self] in
            for await message in messages {
                bridge.serverMessageTaken(message.count)
                guard let self else { return }
                await handler(self, message)
            }
        }
    }

    public nonisolated var child: ChildProcess { bridge.child }

    /// Requests the current and the retiring children are still working on.
    public var pendingRequests: Int {
        retiring.reduce(bridge.pendingCount) { $0 + $1.pendingCount }
    }

    /// `origin` tells clients sharing a child apart (see `ChildIDTable.attribution`).
    public nonisolated func send(_ request: JSONRPCMessage, origin: String = "") async throws(BridgeError) -> SessionCall {
        let bridge = self.bridge
        let call = try await bridge.send(request, origin: origin)
        return SessionCall(ticket: SessionTicket(bridge: bridge, ticket: call.ticket), events: call.events)
    }

    /// Like `send(_:)`, but the events go straight into `sink` (e.g. a POST answer's stream).
    /// `origin` tells clients sharing a child apart, so one's cancellation never hits another's id.
    nonisolated func send(_ request: JSONRPCMessage, origin: String = "", into sink: some BridgeEventSink) async throws(BridgeError)
        -> SessionTicket
    {
        let bridge = self.bridge
        return SessionTicket(bridge: bridge, ticket: try await bridge.send(request, origin: origin, into: sink))
    }

    /// Forwards a client notification, remembering `notifications/initialized` for replay (true
    /// when it was new: worth persisting). A cancellation may concern a request a replaced child
    /// is still answering, so it goes to every child (each drops ids it does not know).
    @discardableResult
    public func forward(_ notification: JSONRPCMessage, origin: String = "") async throws(BridgeError) -> Bool {
        let firstInitialized = notification.method == "notifications/initialized" && initializedNotification == nil
        if firstInitialized { initializedNotification = notification.bytes }
        try await bridge.forwardNotification(notification, origin: origin)
        if notification.method == "notifications/cancelled" {
            for old in retiring { try await old.forwardNotification(notification, origin: origin) }
        }
        return firstInitialized
    }

    /// Routes a client's answer to a server→client request to the child that asked (possibly
    /// one being replaced); false if no child asked for it.
    public func deliver(_ response: JSONRPCMessage) async -> Bool {
        for candidate in [bridge] + retiring where await candidate.deliverClientResponse(response) {
            return true
        }
        return false
    }

    /// Makes `newBridge` (already initialized with this conversation's replayed handshake) answer
    /// every later request. The replaced child finishes what it took, for at most `drain`, and
    /// is then stopped. Refused (false) unless the new credential is newer (or `force`), or when
    /// the conversation ended.
    func swap(to newBridge: ChildBridge, credential newCredential: UpstreamCredential, drain: Duration, force: Bool = false) -> Bool {
        guard !stopped, force || Self.isNewer(newCredential, than: credential) else { return false }
        let old = current.withLock { current in
            defer { current = newBridge }
            return current
        }
        currentCredential.withLock { $0 = newCredential }
        forward(from: newBridge)
        retiring.append(old)
        drains[ObjectIdentifier(old)] = Task { [weak self] in
            let deadline = ContinuousClock.now + drain
            // The bridge has no "idle" signal; a coarse poll is cheap next to a drain's length.
            while old.pendingCount > 0, ContinuousClock.now < deadline, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
            }
            await old.stop()
            await self?.retired(old)
        }
        return true
    }

    /// Whether the current child's token is too close to its expiry to take another request (the
    /// request could outlast it): less left than the token's lifetime-derived retirement margin
    /// (`UpstreamTokenThresholds`), or than `fallbackMargin` when the provider derived none. A
    /// fixed margin at or above a short token's lifetime replaced the child on every request.
    nonisolated func isNearExpiry(fallbackMargin: TimeInterval, now: Date = Date()) -> Bool {
        let credential = self.credential
        guard let expiry = credential.expiresAt else { return false }
        return expiry.timeIntervalSince(now) < credential.thresholds?.retirementMargin ?? fallbackMargin
    }

    /// Whether a child with `candidate` would run a newer token than one with `current`.
    nonisolated static func isNewer(_ candidate: UpstreamCredential, than current: UpstreamCredential) -> Bool {
        guard let new = candidate.generation else { return false }
        guard let old = current.generation else { return true }
        return new > old
    }

    private func retired(_ old: ChildBridge) {
        retiring.removeAll { $0 === old }
        drains[ObjectIdentifier(old)] = nil
        pumps[ObjectIdentifier(old)] = nil
    }

    /// Ends the GET stream and stops every child (pending requests fail with an error response).
    func stop() async -> ChildExit {
        stopped = true
        await serverStream.close()
        for drain in drains.values { drain.cancel() }
        for old in retiring { await old.stop() }
        let exit = await bridge.stop()
        for pump in pumps.values { pump.cancel() }
        return exit
    }

    // MARK: - Broker-originated requests

    /// Sends a request of the broker's own and returns its `result`, cancelling it on the child
    /// when no answer arrives within `timeout`.
    func oneResult(of request: JSONRPCMessage, timeout: Duration) async -> [String: Any]? {
        guard let call = try? await send(request) else { return nil }
        guard let answer = await call.response(within: timeout) else {
            await call.cancel(reason: "no answer in time")
            return nil
        }
        return ((try? JSONSerialization.jsonObject(with: Data(answer))) as? [String: Any])?["result"] as? [String: Any]
    }

    /// A server→client request nobody can take gets an answer right away
    /// (`JSONRPCEnvelope.refusal`), so the tool can continue or fail cleanly.
    func refuse(_ message: JSONRPCMessage) async {
        guard message.kind == .request, let rawID = message.rawID else { return }
        let answer = JSONRPCEnvelope.refusal(rawID: rawID, method: message.method,
                                             reason: "the MCP client did not declare the capability for it")
        guard let reply = try? JSONRPCMessage(answer) else { return }
        _ = await deliver(reply)
    }

    /// Reads the child's whole tool list (bounded in pages and time) into `tools`. A child that
    /// does not answer in time keeps the catalog it had: checks are then skipped for the tools
    /// it does not know, never wrongly applied.
    func refreshTools(timeout: Duration) async {
        guard server.offers("tools") else { return }
        var list: [[String: Any]] = []
        var cursor: String?
        for page in 1...20 {
            let params = cursor.map { Array(#"{"cursor":"#.utf8) + JSONRPCID.encodeString($0) + Array("}".utf8) } ?? Array("{}".utf8)
            guard let request = try? JSONRPCMessage(JSONRPCEnvelope.request(
                rawID: JSONRPCID.encodeString("fjmcp-tools-\(page)"), method: "tools/list", params: params)),
                let result = await oneResult(of: request, timeout: timeout)
            else { return }
            list += result["tools"] as? [[String: Any]] ?? []
            cursor = result["nextCursor"] as? String
            if cursor == nil { break }
        }
        tools.replace(with: ChildTools.annotations(ofTools: list))
    }

    /// `resources/subscribe` / `resources/unsubscribe` on the current child; false if it refused
    /// or did not answer in time.
    @discardableResult
    func resourceRequest(_ method: String, uri: String, timeout: Duration) async -> Bool {
        let params = Array(#"{"uri":"#.utf8) + JSONRPCID.encodeString(uri) + Array("}".utf8)
        guard let request = try? JSONRPCMessage(JSONRPCEnvelope.request(
            rawID: JSONRPCID.encodeString("fjmcp-\(method)"), method: method, params: params))
        else { return false }
        return await oneResult(of: request, timeout: timeout) != nil
    }
}
