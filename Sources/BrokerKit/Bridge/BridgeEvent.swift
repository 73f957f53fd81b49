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

/// Why the bridge did not take a message: a caller mistake (-32600, Invalid Request), or a child
/// that can no longer take anything (the request did not run there; a new child may take it).
public enum BridgeError: Error, Equatable, Sendable {
    case notARequest
    case notANotification
    case childGone

    public var code: Int {
        switch self {
        case .notARequest, .notANotification: -32600
        case .childGone: -32603
        }
    }
}

/// Where the bridge puts one call's events. The bridge knows nothing of HTTP or SSE: a caller
/// that wants the events somewhere else than a plain stream (e.g. straight into the stream an
/// SSE writer reads, which spares the POST path a relay task per request) brings its own sink.
public protocol BridgeEventSink: Sendable {
    func yield(_ event: BridgeEvent)
    /// No event follows; called exactly once per call.
    func finish()
}

/// The plain sink: the call's own `AsyncStream` (`ChildBridge.send(_:origin:)`).
struct EventStreamSink: BridgeEventSink {
    let continuation: AsyncStream<BridgeEvent>.Continuation

    func yield(_ event: BridgeEvent) { continuation.yield(event) }
    func finish() { continuation.finish() }
}
