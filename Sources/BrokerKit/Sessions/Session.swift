import Foundation

/// A request sent through a session, tied to the child that took it: with a child swap the
/// session's current child may change while this call is still answered by the old one.
struct SessionTicket: Sendable {
    let bridge: ChildBridge
    let ticket: BridgeTicket

    /// Tells the child that took the request to stop (client went away).
    func cancel(reason: String) async {
        await bridge.cancel(ticket, reason: reason)
    }
}

/// A `SessionTicket` with the request's own event stream (`Session.send(_:)`).
public struct SessionCall: Sendable {
    let ticket: SessionTicket
    public let events: AsyncStream<BridgeEvent>

    /// Tells the child that took the request to stop (client went away).
    public func cancel(reason: String) async {
        await ticket.cancel(reason: reason)
    }
}

/// One legacy MCP session: a user's conversation with one child process. It keeps the client's
/// original `initialize` and `notifications/initialized`, so that replacing the child (token
/// rotation) is "start a new bridge, replay both, swap `bridge`".
public actor Session {
    public nonisolated let id: String
    public nonisolated let owner: SessionOwner
    /// The version the child answered `initialize` with; HTTP rules (header, batching) follow it.
    public nonisolated let protocolVersion: String
    public nonisolated let initializeRequest: [UInt8]
    public nonisolated let createdAt: ContinuousClock.Instant
    public private(set) var initializedNotification: [UInt8]?
    /// The Forgejo credential the current child runs with (expiry and generation, no token).
    public private(set) var credential: UpstreamCredential
    private var bridge: ChildBridge
    /// Replaced children still answering requests they took before a swap.
    private var retiring: [ChildBridge] = []
    private var drains: [ObjectIdentifier: Task<Void, Never>] = [:]
    private let serverStream: ServerStreamHub
    private var pumps: [ObjectIdentifier: Task<Void, Never>] = [:]
    private var stopped = false

    init(id: String, owner: SessionOwner, protocolVersion: String, initializeRequest: [UInt8], bridge: ChildBridge,
         credential: UpstreamCredential) {
        self.id = id
        self.owner = owner
        self.protocolVersion = protocolVersion
        self.initializeRequest = initializeRequest
        self.createdAt = .now
        self.bridge = bridge
        self.credential = credential
        self.serverStream = ServerStreamHub()
    }

    /// Starts forwarding the child's unsolicited messages to the GET stream.
    func startForwarding() {
        forward(from: bridge)
    }

    /// Every child of the session feeds the same GET stream, so a client's open stream survives
    /// a swap; a replaced child's pump ends when that child exits.
    private func forward(from bridge: ChildBridge) {
        let hub = serverStream
        let messages = bridge.serverStream
        pumps[ObjectIdentifier(bridge)] = Task {
            for await message in messages { await hub.publish(message) }
        }
    }

    public var child: ChildProcess { bridge.child }

    public var pendingRequests: Int {
        get async { await bridge.pendingCount }
    }

    public func send(_ request: JSONRPCMessage) async throws(BridgeError) -> SessionCall {
        let bridge = self.bridge
        let call = try await bridge.send(request)
        return SessionCall(ticket: SessionTicket(bridge: bridge, ticket: call.ticket), events: call.events)
    }

    /// Like `send(_:)`, but the events go straight into `signals` (a POST answer's stream).
    func send(_ request: JSONRPCMessage, into signals: AsyncStream<StreamSignal<BridgeEvent>>.Continuation)
        async throws(BridgeError) -> SessionTicket
    {
        let bridge = self.bridge
        return SessionTicket(bridge: bridge, ticket: try await bridge.send(request, into: .signals(signals)))
    }

    /// Forwards a client notification, remembering `notifications/initialized` for replay. A
    /// cancellation may concern a request a replaced child is still answering, so it goes to
    /// every child (each drops ids it does not know).
    public func forward(_ notification: JSONRPCMessage) async throws(BridgeError) {
        if notification.method == "notifications/initialized", initializedNotification == nil {
            initializedNotification = notification.bytes
        }
        try await bridge.forwardNotification(notification)
        guard notification.method == "notifications/cancelled" else { return }
        for old in retiring { try await old.forwardNotification(notification) }
    }

    /// Routes a client's answer to a server→client request to the child that asked (possibly
    /// one being replaced); false if no child asked for it.
    public func deliver(_ response: JSONRPCMessage) async -> Bool {
        for candidate in [bridge] + retiring where await candidate.deliverClientResponse(response) {
            return true
        }
        return false
    }

    /// Makes `newBridge` (already initialized with this session's replayed handshake) answer
    /// every later request. The replaced child finishes what it took, for at most `drain`, and
    /// is then stopped. Refused (false) for an older or equal generation, or an ended session.
    func swap(to newBridge: ChildBridge, credential newCredential: UpstreamCredential, drain: Duration) -> Bool {
        guard !stopped, Self.isNewer(newCredential, than: credential) else { return false }
        let old = bridge
        bridge = newBridge
        credential = newCredential
        forward(from: newBridge)
        retiring.append(old)
        drains[ObjectIdentifier(old)] = Task { [weak self] in
            let deadline = ContinuousClock.now + drain
            // The bridge has no "idle" signal; a coarse poll is cheap next to a drain's length.
            while await old.pendingCount > 0, ContinuousClock.now < deadline, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
            }
            await old.stop()
            await self?.retired(old)
        }
        return true
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

    /// The server→client stream for a GET; nil once the session ended.
    func attachServerStream() async -> (id: Int, messages: AsyncStream<[UInt8]>)? {
        await serverStream.attach()
    }

    func detachServerStream(_ id: Int) async {
        await serverStream.detach(id)
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
}
