import Foundation

/// A request sent through a session, tied to the child that took it: with a child swap the
/// session's current child may change while this call is still answered by the old one.
public struct SessionCall: Sendable {
    let bridge: ChildBridge
    public let call: BridgeCall

    public var events: AsyncStream<BridgeEvent> { call.events }

    /// Tells the child that took the request to stop (client went away).
    public func cancel(reason: String) async {
        await bridge.cancel(call.ticket, reason: reason)
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
    private var bridge: ChildBridge
    private let serverStream: ServerStreamHub
    private var pump: Task<Void, Never>?

    init(id: String, owner: SessionOwner, protocolVersion: String, initializeRequest: [UInt8], bridge: ChildBridge) {
        self.id = id
        self.owner = owner
        self.protocolVersion = protocolVersion
        self.initializeRequest = initializeRequest
        self.createdAt = .now
        self.bridge = bridge
        self.serverStream = ServerStreamHub()
    }

    /// Starts forwarding the child's unsolicited messages to the GET stream.
    func startForwarding() {
        let hub = serverStream
        let messages = bridge.serverStream
        pump = Task {
            for await message in messages { await hub.publish(message) }
        }
    }

    public var child: ChildProcess { bridge.child }

    public var pendingRequests: Int {
        get async { await bridge.pendingCount }
    }

    public func send(_ request: JSONRPCMessage) async throws(BridgeError) -> SessionCall {
        let bridge = self.bridge
        return SessionCall(bridge: bridge, call: try await bridge.send(request))
    }

    /// Forwards a client notification, remembering `notifications/initialized` for replay.
    public func forward(_ notification: JSONRPCMessage) async throws(BridgeError) {
        if notification.method == "notifications/initialized", initializedNotification == nil {
            initializedNotification = notification.bytes
        }
        try await bridge.forwardNotification(notification)
    }

    /// Routes a client's answer to a server→client request; false if no child asked for it.
    public func deliver(_ response: JSONRPCMessage) async -> Bool {
        await bridge.deliverClientResponse(response)
    }

    /// The server→client stream for a GET; nil once the session ended.
    func attachServerStream() async -> (id: Int, messages: AsyncStream<[UInt8]>)? {
        await serverStream.attach()
    }

    func detachServerStream(_ id: Int) async {
        await serverStream.detach(id)
    }

    /// Ends the GET stream and stops the child (pending requests fail with an error response).
    func stop() async -> ChildExit {
        await serverStream.close()
        let exit = await bridge.stop()
        pump?.cancel()
        return exit
    }
}
