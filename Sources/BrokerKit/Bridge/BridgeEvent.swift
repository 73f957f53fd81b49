/// What a caller of `ChildBridge.send` receives, in order, for its request.
public enum BridgeEvent: Sendable, Equatable {
    /// A notification or server→client request the child sent on behalf of this request,
    /// already rewritten to client-side ids and tokens.
    case message([UInt8])
    /// The final response with the client's original id; the stream ends after it.
    case response([UInt8])
}

/// Identifies one `send` so it can be cancelled even when two callers used the same client id.
public struct BridgeTicket: Hashable, Sendable {
    let childID: Int64
}

/// A request in flight through the bridge.
public struct BridgeCall: Sendable {
    public let ticket: BridgeTicket
    public let events: AsyncStream<BridgeEvent>

    /// The final response, skipping side messages; nil when none arrives within `timeout` (the
    /// caller decides whether to cancel the call) or the stream ends without one.
    func response(within timeout: Duration) async -> [UInt8]? {
        await withTimeout(timeout) { [events] in
            for await event in events {
                if case .response(let bytes) = event { return bytes }
            }
            return nil
        }
    }
}

/// Why the bridge did not take a message: a caller mistake (-32600, Invalid Request), a child
/// that can no longer take anything (the request did not run there; a new child may take it),
/// or a live child that is not reading its input (the request did not run; the child stays).
public enum BridgeError: Error, Equatable, Sendable {
    case notARequest
    case notANotification
    case childGone
    /// The child has too much input waiting (`ChildError.stdinFull`): only this request is
    /// refused; the child and its other calls go on.
    case childBusy

    public var code: Int {
        switch self {
        case .notARequest, .notANotification: -32600
        case .childGone, .childBusy: -32603
        }
    }
}

/// Where the bridge puts one call's events. The bridge knows nothing of HTTP or SSE: a caller
/// that wants the events somewhere else than a plain stream (e.g. straight into the stream an
/// SSE writer reads, which spares the POST path a relay task per request) brings its own sink.
protocol BridgeEventSink: Sendable {
    /// False when the sink's byte bound is reached and it did not take the message: the bridge
    /// then ends the call with an error (`BufferBound`). A response is always taken.
    func yield(_ event: BridgeEvent) -> Bool
    /// The byte bound `yield` enforces (named in the error that ends the call).
    var limit: Int { get }
    /// No event follows: the call ended without an answer (abandoned). Each call ends with
    /// exactly one of `finish` and `answer`.
    func finish()
    /// The call's final response, after which no event follows.
    func answer(_ response: [UInt8])
    /// What an overflow of this sink counts as (`fjmcp_buffer_overflows_total`).
    var overflowKind: BridgeMetrics.Stream { get }
}

extension BridgeEventSink {
    var overflowKind: BridgeMetrics.Stream { .call }

    func answer(_ response: [UInt8]) {
        _ = yield(.response(response))
        finish()
    }
}

/// The plain sink: the call's own `AsyncStream` (`ChildBridge.send(_:origin:)`). Unbounded: its
/// readers are the broker's own requests (the child's initialize, replayed session state), which
/// read it to the answer.
struct EventStreamSink: BridgeEventSink {
    let continuation: AsyncStream<BridgeEvent>.Continuation

    var limit: Int { .max }

    func yield(_ event: BridgeEvent) -> Bool {
        continuation.yield(event)
        return true
    }
    func finish() { continuation.finish() }
}

/// Keeps only the answer, for a caller with nowhere to put side messages (a 2025-03-26 batch):
/// they are dropped as they come instead of piling up unread while the caller waits for
/// another request's answer. The answers of one batch all wait until the array goes out, so
/// they share one `budget`: an answer past it is replaced by the overflow error for `rawID`
/// (the request's id), as a call whose reader falls behind is answered.
struct AnswerOnlySink: BridgeEventSink {
    let continuation: AsyncStream<BridgeEvent>.Continuation
    let budget: BufferBudget
    let rawID: [UInt8]

    var limit: Int { budget.limit }

    func yield(_ event: BridgeEvent) -> Bool {
        guard case .response(let bytes) = event else { return true }
        guard budget.offer(bytes.count) == .accept else {
            BridgeMetrics.overflowed(.call)
            continuation.yield(.response(BufferBound.overflowError(rawID: rawID, limit: limit)))
            return true
        }
        continuation.yield(event)
        return true
    }

    func finish() { continuation.finish() }
}
