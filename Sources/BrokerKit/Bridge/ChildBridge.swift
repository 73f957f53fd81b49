import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// JSON-RPC multiplexing over one child's stdio. Client ids are replaced by child-side ids
/// (and progress tokens by child-side tokens), so concurrent callers never collide, and
/// everything the child says is routed back to the caller it belongs to.
///
public actor ChildBridge {
    public nonisolated let child: ChildProcess
    /// Child messages that belong to no single pending request (for the legacy GET stream).
    public nonisolated let serverStream: AsyncStream<[UInt8]>
    private let serverContinuation: AsyncStream<[UInt8]>.Continuation
    private var table = ChildIDTable()
    private var exit: ChildExit?
    private let logger: Logger
    /// Makes server→client ids unique across the children of one session (child swaps).
    private let tag = String(UInt32.random(in: .min ... .max), radix: 16)
    private var nextServerRequest = 0
    private var malformedLog = LogRateLimiter(LogRateLimit(burst: 10, perSecond: 1))
    /// Sees every answer the child gives, after it was routed (the host's failed-call signal).
    private var answerObserver: (@Sendable (JSONRPCMessage) -> Void)?

    public init(child: ChildProcess, logger: Logger) {
        self.child = child
        self.logger = logger
        (serverStream, serverContinuation) = AsyncStream<[UInt8]>.makeStream()
    }

    /// Starts the child with this bridge as its reader.
    @discardableResult
    public func start() async throws(ChildError) -> pid_t {
        let child = child
        child.onExit { [weak self] exit in await self?.childExited(exit) }
        return try await child.start { [weak self] line in
            await self?.childSent(line)
        }
    }

    /// Hands every answer of the child to `observer` once it was routed; it runs on the child's
    /// stdout path, so it must only look at bytes and hand work off.
    func observeAnswers(_ observer: @escaping @Sendable (JSONRPCMessage) -> Void) {
        answerObserver = observer
    }

    public var pendingCount: Int { table.pending.count }

    /// Sends a client request. Failures after this point arrive as a JSON-RPC error response
    /// on the returned stream, with the client's id, like any other response.
    public func send(_ request: JSONRPCMessage, origin: String = "") async throws(BridgeError) -> BridgeCall {
        let (events, continuation) = AsyncStream<BridgeEvent>.makeStream()
        let ticket = try await send(request, origin: origin, into: EventStreamSink(continuation: continuation))
        return BridgeCall(ticket: ticket, events: events)
    }

    /// Sends a client request whose events go to `sink`; failures after this point arrive there
    /// as a JSON-RPC error response with the client's id. Throws `.childGone` when the request
    /// never reached the child (it exited, or its stdin is closed): the caller may send it again
    /// to a new child, since the tool did not run. Throws `.childBusy` when the child runs but
    /// does not read its stdin: the request did not run, and the child must be left alone.
    func send(_ request: JSONRPCMessage, origin: String = "", into sink: some BridgeEventSink) async throws(BridgeError) -> BridgeTicket {
        guard request.kind == .request, let clientID = request.id, let clientRawID = request.rawID else {
            throw .notARequest
        }
        guard exit == nil else { throw .childGone }
        let token = request.progressToken
        let childID = table.register(
            .init(
                origin: origin, clientID: clientID, clientRawID: clientRawID,
                clientProgressToken: token.map { Array(request.bytes[$0.range]) }, events: sink))
        do {
            try await child.send(Self.splice(request.bytes, request.idRange, token?.range, with: JSONRPCID.int(childID).jsonBytes))
        } catch {
            _ = table.remove(childID)
            throw error == .stdinFull ? .childBusy : .childGone
        }
        return BridgeTicket(childID: childID)
    }

    /// Abandons a call: the child is told (with ITS id) and the caller's stream ends without a response.
    public func cancel(_ ticket: BridgeTicket, reason: String = "client cancelled") async {
        guard let call = table.remove(ticket.childID) else { return }
        call.events.finish()
        try? await child.send(JSONRPCEnvelope.cancelled(rawID: JSONRPCID.int(ticket.childID).jsonBytes, reason: reason))
    }

    public func cancel(clientID: JSONRPCID, origin: String = "") async {
        guard let childID = table.childID(forClient: clientID, origin: origin) else { return }
        await cancel(BridgeTicket(childID: childID))
    }

    /// Forwards a client notification; `notifications/cancelled` is translated to the child's id
    /// (and dropped if the request is unknown or already finished, which MCP allows).
    public func forwardNotification(_ notification: JSONRPCMessage, origin: String = "") async throws(BridgeError) {
        guard notification.kind == .notification else { throw .notANotification }
        guard notification.method == "notifications/cancelled" else {
            try? await child.send(notification.bytes)
            return
        }
        guard let requested = notification.cancelledRequestID,
            let childID = table.childID(forClient: requested.id, origin: origin),
            let call = table.remove(childID)
        else { return }
        call.events.finish()
        try? await child.send(notification.replacing(requested.range, with: JSONRPCID.int(childID).jsonBytes))
    }

    /// Routes a client's response to a server→client request back to the child under the
    /// child's original id. Returns false if this bridge never issued that id.
    public func deliverClientResponse(_ response: JSONRPCMessage) async -> Bool {
        guard response.isResponse, case .string(let brokerID)? = response.id,
            let childRawID = table.takeServerRequest(brokerID: brokerID)
        else { return false }
        try? await child.send(response.replacingID(withRaw: childRawID))
        return true
    }

    /// Stops the child; pending calls fail through the normal exit path.
    @discardableResult
    public func stop() async -> ChildExit {
        await child.stop()
    }

    // MARK: - From the child

    private func childSent(_ line: [UInt8]) {
        let message: JSONRPCMessage
        do {
            message = try JSONRPCMessage(line)
        } catch {
            if case .log(let suppressed) = malformedLog.admit() {
                logger.warning(
                    "dropped an invalid JSON-RPC line from the child",
                    metadata: ["error": "\(error.detail)", "suppressed_before": "\(suppressed)"])
            }
            return
        }
        route(message)
        if message.isResponse { answerObserver?(message) }
    }

    private func route(_ message: JSONRPCMessage) {
        switch message.kind {
        case .response, .errorResponse:
            guard case .int(let childID)? = message.id, let call = table.remove(childID) else {
                logger.debug("dropped a response for no pending request (cancelled or late)")
                return
            }
            call.events.answer(message.replacingID(withRaw: call.clientRawID))
        case .notification:
            routeNotification(message)
        case .request:
            routeRequest(message)
        case .batch:
            for element in message.batchElements() {
                if case .success(let inner) = element { route(inner) }
            }
        }
    }

    /// A server→client request goes to the call it belongs to (`ChildIDTable.attribution`), under
    /// an id of the bridge's own; one that could belong to several clients is refused at once.
    private func routeRequest(_ message: JSONRPCMessage) {
        let attribution = table.attribution()
        guard attribution != .ambiguous else {
            logger.debug("refused a server-to-client request that calls of several clients could own",
                         metadata: ["method": "\(message.method ?? "")"])
            let refusal = JSONRPCEnvelope.error(
                rawID: message.rawID ?? Array("null".utf8), code: -32601,
                message: "\(message.method ?? "request") is not available: the broker cannot tell which client it is for")
            Task { [child] in try? await child.send(refusal) }
            return
        }
        nextServerRequest += 1
        let brokerID = "fjmcp-\(tag)-\(nextServerRequest)"
        table.recordServerRequest(brokerID: brokerID, childRawID: message.rawID ?? [])
        let relayed = message.replacingID(with: .string(brokerID))
        guard case .call(let childID) = attribution, let call = table.pending[childID] else {
            serverContinuation.yield(relayed)
            return
        }
        relay(relayed, to: childID, call)
    }

    private func routeNotification(_ message: JSONRPCMessage) {
        guard message.method == "notifications/progress", let token = message.notifiedProgressToken else {
            deliver(message.bytes, to: table.soleChildID)
            return
        }
        guard case .int(let childID) = token.id, let call = table.pending[childID],
            let clientToken = call.clientProgressToken
        else {
            logger.debug("dropped progress for no pending request")
            return
        }
        relay(message.replacing(token.range, with: clientToken), to: childID, call)
    }

    private func deliver(_ bytes: [UInt8], to childID: Int64?) {
        if let childID, let call = table.pending[childID] {
            relay(bytes, to: childID, call)
        } else {
            serverContinuation.yield(bytes)
        }
    }

    /// A side message for a call; a call whose reader is too far behind to take it ends here.
    private func relay(_ bytes: [UInt8], to childID: Int64, _ call: ChildIDTable.PendingCall) {
        guard !call.events.yield(.message(bytes)) else { return }
        BridgeMetrics.overflowed(call.events.overflowKind)
        overflowed(childID, limit: call.events.limit)
    }

    /// The call's reader fell behind by more than its bound: the call ends with an error answer
    /// (the rest of the session goes on) and the child is told to stop working on it. The
    /// cancellation is written from a task of its own: this runs on the child's stdout path, and
    /// waiting here for a child that does not read its stdin would stall both pipes.
    private func overflowed(_ childID: Int64, limit: Int) {
        guard let call = table.remove(childID) else { return }
        logger.warning("ended a call whose client read its messages too slowly", metadata: ["limit_bytes": "\(limit)"])
        call.events.answer(BufferBound.overflowError(rawID: call.clientRawID, limit: limit))
        let cancel = JSONRPCEnvelope.cancelled(rawID: JSONRPCID.int(childID).jsonBytes, reason: "client too slow")
        Task { [child] in try? await child.send(cancel) }
    }

    private func childExited(_ exit: ChildExit) {
        self.exit = exit
        for call in table.removeAll() {
            call.events.answer(Self.exitedError(call.clientRawID, exit))
        }
        serverContinuation.finish()
    }

    // MARK: - Helpers

    static func exitedError(_ rawID: [UInt8], _ exit: ChildExit?) -> [UInt8] {
        let detail = exit.map { " (\($0))" } ?? ""
        return JSONRPCEnvelope.error(rawID: rawID, code: -32603, message: "MCP server process exited\(detail)")
    }

    /// `bytes` with each of the two non-overlapping ranges (either may be absent; the request's
    /// id and its progress token) replaced by `replacement`, built in one pass into one buffer:
    /// this runs for every forwarded request.
    static func splice(_ bytes: [UInt8], _ first: Range<Int>?, _ second: Range<Int>?, with replacement: [UInt8]) -> [UInt8] {
        var (earlier, later) = (first, second)
        if let a = earlier, let b = later, b.lowerBound < a.lowerBound { (earlier, later) = (b, a) }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + 2 * replacement.count)
        var cursor = 0
        for range in [earlier, later] {
            guard let range else { continue }
            output += bytes[cursor..<range.lowerBound]
            output += replacement
            cursor = range.upperBound
        }
        output += bytes[cursor...]
        return output
    }
}
