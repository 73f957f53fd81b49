import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// JSON-RPC multiplexing over one child's stdio. Client ids are replaced by child-side ids
/// (and progress tokens by child-side tokens), so concurrent callers never collide, and
/// everything the child says is routed back to the caller it belongs to.
///
/// A lock rather than an actor: the child's stdout lines arrive on the event loop that reads
/// its pipe and are routed there at once, synchronously (`childSent`), so an answer reaches its
/// caller's sink without a task, an async sequence or an executor hop in between. Under the lock
/// the id table is read and changed (`Route` says what to do with a line) and a side message is
/// handed to its call's sink (sinks only buffer or wake a reader), so a call ended meanwhile gets
/// nothing after its end; rewriting a message, logging and writing to the child happen outside
/// it. A line's route is carried out before the next line is read (one reader at a time), so
/// order holds.
public final class ChildBridge: Sendable {
    public let child: ChildProcess
    /// Child messages that belong to no single pending request (for the legacy GET stream). Its
    /// reader reports each message it took (`serverMessageTaken`): what waits is bounded.
    public let serverStream: AsyncStream<[UInt8]>
    private let serverContinuation: AsyncStream<[UInt8]>.Continuation
    /// Bytes in `serverStream` not yet taken; past `serverLimit` new messages are dropped (the
    /// child is read as fast as it writes; its reader hops onto the session host per message).
    private let serverHeld = Atomic<Int>(0)
    private let serverLimit: Int
    private let logger: Logger
    /// Makes server→client ids unique across the children of one session (child swaps).
    private let tag = String(UInt32.random(in: .min ... .max), radix: 16)

    private struct State {
        var table = ChildIDTable()
        var exit: ChildExit?
        var nextServerRequest = 0
        var malformedLog = LogRateLimiter(LogRateLimit(burst: 10, perSecond: 1))
        var serverDropLog = LogRateLimiter(LogRateLimit(burst: 1, perSecond: 0.1))
        /// Sees every answer the child gives, after it was routed (the host's failed-call signal).
        var answerObserver: (@Sendable (JSONRPCMessage) -> Void)?
    }

    private let state = Mutex(State())

    init(child: ChildProcess, logger: Logger, serverLimit: Int = BufferBound.defaultLimit) {
        self.child = child
        self.logger = logger
        self.serverLimit = serverLimit
        (serverStream, serverContinuation) = AsyncStream<[UInt8]>.makeStream()
    }

    /// Starts the child with this bridge as its reader.
    @discardableResult
    public func start() async throws(ChildError) -> pid_t {
        child.onExit { [weak self] exit in self?.childExited(exit) }
        return try await child.start { [weak self] line in
            self?.childSent(line)
        }
    }

    /// Hands every answer of the child to `observer` once it was routed; it runs on the child's
    /// stdout path, so it must only look at bytes and hand work off.
    func observeAnswers(_ observer: @escaping @Sendable (JSONRPCMessage) -> Void) {
        state.withLock { $0.answerObserver = observer }
    }

    public var pendingCount: Int { state.withLock { $0.table.pending.count } }

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
        let token = request.progressToken
        let call = ChildIDTable.PendingCall(
            origin: origin, clientID: clientID, clientRawID: clientRawID,
            clientProgressToken: token.map { Array(request.bytes[$0.range]) }, events: sink)
        let registered: Int64? = state.withLock { state in
            state.exit == nil ? state.table.register(call) : nil
        }
        guard let childID = registered else { throw .childGone }
        do {
            try await child.send(Self.splice(request.bytes, request.idRange, token?.range, with: JSONRPCID.int(childID).jsonBytes))
        } catch {
            _ = state.withLock { $0.table.remove(childID) }
            throw error == .stdinFull ? .childBusy : .childGone
        }
        return BridgeTicket(childID: childID)
    }

    /// Abandons a call: the child is told (with ITS id) and the caller's stream ends without a response.
    public func cancel(_ ticket: BridgeTicket, reason: String = "client cancelled") async {
        guard let call = state.withLock({ $0.table.remove(ticket.childID) }) else { return }
        call.events.finish()
        try? await child.send(JSONRPCEnvelope.cancelled(rawID: JSONRPCID.int(ticket.childID).jsonBytes, reason: reason))
    }

    public func cancel(clientID: JSONRPCID, origin: String = "") async {
        guard let childID = state.withLock({ $0.table.childID(forClient: clientID, origin: origin) }) else { return }
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
        guard let requested = notification.cancelledRequestID else { return }
        let removed: (Int64, ChildIDTable.PendingCall)? = state.withLock { state in
            guard let childID = state.table.childID(forClient: requested.id, origin: origin),
                let call = state.table.remove(childID)
            else { return nil }
            return (childID, call)
        }
        guard let (childID, call) = removed else { return }
        call.events.finish()
        try? await child.send(notification.replacing(requested.range, with: JSONRPCID.int(childID).jsonBytes))
    }

    /// Routes a client's response to a server→client request back to the child under the
    /// child's original id. Returns false if this bridge never issued that id.
    public func deliverClientResponse(_ response: JSONRPCMessage) async -> Bool {
        guard response.isResponse, case .string(let brokerID)? = response.id,
            let childRawID = state.withLock({ $0.table.takeServerRequest(brokerID: brokerID) })
        else { return false }
        try? await child.send(response.replacingID(withRaw: childRawID))
        return true
    }

    /// Stops the child; pending calls fail through the normal exit path.
    @discardableResult
    public func stop() async -> ChildExit {
        await child.stop()
    }

    /// The reader of `serverStream` took a message of `bytes` bytes.
    public func serverMessageTaken(_ bytes: Int) {
        serverHeld.wrappingSubtract(bytes, ordering: .relaxed)
    }

    // MARK: - From the child

    /// What one message of the child comes to, decided under the lock from the id table.
    private enum Route {
        /// The answer to `call` (already removed from the table).
        case answer(ChildIDTable.PendingCall)
        /// A side message for the pending call `childID`; `token`: the progress token's range
        /// to put the client's token in, nil to send the bytes as they are.
        case relay(Int64, ChildIDTable.PendingCall, token: Range<Int>?)
        /// A server→client request, under the bridge's id `brokerID`, to the call `childID` or
        /// (nil) the server stream.
        case request(brokerID: String, to: (Int64, ChildIDTable.PendingCall)?)
        /// To the server stream as it is.
        case server
        /// A server→client request nobody can be told apart for: refused to the child.
        case refuse
        /// A response or progress for no pending call (cancelled or late).
        case drop(String)
    }

    /// One line of the child's stdout, on the event loop reading its pipe: routed at once, in
    /// the order the child wrote.
    private func childSent(_ line: [UInt8]) {
        let message: JSONRPCMessage
        do {
            message = try JSONRPCMessage(line)
        } catch {
            let admitted = state.withLock { $0.malformedLog.admit() }
            if case .log(let suppressed) = admitted {
                logger.warning(
                    "dropped an invalid JSON-RPC line from the child",
                    metadata: ["error": "\(error.detail)", "suppressed_before": "\(suppressed)"])
            }
            return
        }
        guard message.kind == .batch else { return routeAndCarryOut(message) }
        for case .success(let inner) in message.batchElements() { routeAndCarryOut(inner) }
    }

    /// Routes one message (a batch's elements one by one) and carries the route out; an answer is
    /// also shown to the answer observer, read under the same lock.
    private func routeAndCarryOut(_ message: JSONRPCMessage) {
        let (route, observer) = state.withLock { state in
            (Self.route(message, &state, tag: tag), message.isResponse ? state.answerObserver : nil)
        }
        carryOut(route, for: message)
        observer?(message)
    }

    private static func route(_ message: JSONRPCMessage, _ state: inout State, tag: String) -> Route {
        switch message.kind {
        case .response, .errorResponse:
            guard case .int(let childID)? = message.id, let call = state.table.remove(childID) else {
                return .drop("dropped a response for no pending request (cancelled or late)")
            }
            return .answer(call)
        case .notification:
            guard message.method == "notifications/progress", let token = message.notifiedProgressToken else {
                guard let childID = state.table.soleChildID, let call = state.table.pending[childID] else { return .server }
                return .relay(childID, call, token: nil)
            }
            guard case .int(let childID) = token.id, let call = state.table.pending[childID], call.clientProgressToken != nil else {
                return .drop("dropped progress for no pending request")
            }
            return .relay(childID, call, token: token.range)
        case .request:
            // A request the bridge cannot attribute goes to the server stream (the host may give
            // it to the only client with calls); one calls of several clients could own is refused.
            let attribution = state.table.attribution()
            guard attribution != .ambiguous else { return .refuse }
            state.nextServerRequest += 1
            let brokerID = "fjmcp-\(tag)-\(state.nextServerRequest)"
            state.table.recordServerRequest(brokerID: brokerID, childRawID: message.rawID ?? [])
            guard case .call(let childID) = attribution, let call = state.table.pending[childID] else {
                return .request(brokerID: brokerID, to: nil)
            }
            return .request(brokerID: brokerID, to: (childID, call))
        case .batch:
            return .drop("dropped a nested batch from the child")
        }
    }

    private func carryOut(_ route: Route, for message: JSONRPCMessage) {
        switch route {
        case .answer(let call):
            call.events.answer(message.replacingID(withRaw: call.clientRawID))
        case .relay(let childID, let call, let token):
            let bytes = token.flatMap { range in call.clientProgressToken.map { message.replacing(range, with: $0) } } ?? message.bytes
            // A call that ended meanwhile (cancelled, or the child exited) gets nothing more.
            _ = relay(bytes, to: childID, call)
        case .request(let brokerID, let target):
            let relayed = message.replacingID(with: .string(brokerID))
            let delivered = if let (childID, call) = target { relay(relayed, to: childID, call) } else { toServerStream(relayed) }
            guard delivered else {
                // Nobody will answer it: the child must not wait for ever.
                _ = state.withLock { $0.table.takeServerRequest(brokerID: brokerID) }
                refuse(message, because: target == nil ? "the client is not reading the session's messages" : "the call it belongs to has ended")
                return
            }
        case .server:
            _ = toServerStream(message.bytes)
        case .refuse:
            logger.debug("refused a server-to-client request that calls of several clients could own",
                         metadata: ["method": "\(message.method ?? "")"])
            refuse(message, because: "the broker cannot tell which client it is for")
        case .drop(let reason):
            logger.debug("\(reason)")
        }
    }

    /// Answers a server→client request of the child in its client's place (`JSONRPCEnvelope.refusal`).
    private func refuse(_ request: JSONRPCMessage, because reason: String) {
        let refusal = JSONRPCEnvelope.refusal(rawID: request.rawID ?? Array("null".utf8), method: request.method, reason: reason)
        Task { [child] in try? await child.send(refusal) }
    }

    /// A message for no single call, unless `serverLimit` bytes already wait for the stream's
    /// reader (one message always fits an empty stream): then it is dropped, counted and logged,
    /// and false returned.
    private func toServerStream(_ bytes: [UInt8]) -> Bool {
        let after = serverHeld.wrappingAdd(bytes.count, ordering: .relaxed).newValue
        guard after == bytes.count || after <= serverLimit else {
            serverHeld.wrappingSubtract(bytes.count, ordering: .relaxed)
            BridgeMetrics.overflowed(.serverStream)
            if case .log(let suppressed) = state.withLock({ $0.serverDropLog.admit() }) {
                logger.warning("dropped a message of the child for no single call: its reader is behind",
                               metadata: ["limit_bytes": "\(serverLimit)", "suppressed_before": "\(suppressed)"])
            }
            return false
        }
        serverContinuation.yield(bytes)
        return true
    }

    /// A side message for a call, handed to its sink under the lock so that a call ended
    /// meanwhile (a cancellation or the exit removes it under the same lock, then finishes its
    /// sink) gets nothing after its end; false when it had ended. A call whose reader is too far
    /// behind to take it ends here: with an error answer (the rest of the session goes on), and
    /// the child is told to stop working on it. The cancellation is written from a task of its
    /// own: this runs on the child's stdout path, and waiting here for a child that does not
    /// read its stdin would stall both pipes.
    private func relay(_ bytes: [UInt8], to childID: Int64, _ call: ChildIDTable.PendingCall) -> Bool {
        let taken: Bool? = state.withLock { state in
            guard state.table.pending[childID] != nil else { return nil }
            guard !call.events.yield(.message(bytes)) else { return true }
            _ = state.table.remove(childID)
            return false
        }
        guard let taken else { return false }
        guard !taken else { return true }
        BridgeMetrics.overflowed(call.events.overflowKind)
        let limit = call.events.limit
        logger.warning("ended a call whose client read its messages too slowly", metadata: ["limit_bytes": "\(limit)"])
        call.events.answer(BufferBound.overflowError(rawID: call.clientRawID, limit: limit))
        let cancel = JSONRPCEnvelope.cancelled(rawID: JSONRPCID.int(childID).jsonBytes, reason: "client too slow")
        Task { [child] in try? await child.send(cancel) }
        return true
    }

    /// After the child's last stdout line was routed (the runner reads stdout to its end first).
    private func childExited(_ exit: ChildExit) {
        let calls = state.withLock { state in
            state.exit = exit
            return state.table.removeAll()
        }
        for call in calls {
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
