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

/// Caller mistakes the bridge rejects before touching the child; both are -32600 (Invalid Request).
public enum BridgeError: Error, Equatable, Sendable {
    case notARequest
    case notANotification

    public var code: Int { -32600 }
}

/// Where the bridge puts one call's events: a plain event stream (`ChildBridge.send(_:origin:)`),
/// or straight into the stream an SSE writer reads (`send(_:origin:into:)`), which spares the
/// session POST path a relay task and a stream per request.
struct BridgeEventSink: Sendable {
    private enum Target: Sendable {
        case events(AsyncStream<BridgeEvent>.Continuation)
        case signals(AsyncStream<StreamSignal<BridgeEvent>>.Continuation)
    }

    private let target: Target

    static func events(_ continuation: AsyncStream<BridgeEvent>.Continuation) -> Self { Self(target: .events(continuation)) }

    static func signals(_ continuation: AsyncStream<StreamSignal<BridgeEvent>>.Continuation) -> Self {
        Self(target: .signals(continuation))
    }

    func yield(_ event: BridgeEvent) {
        switch target {
        case .events(let continuation): continuation.yield(event)
        case .signals(let continuation): continuation.yield(.item(event))
        }
    }

    /// Ends the call's events; a signal stream gets its `.ended` marker first, as `MCPEventStream.signals` gives it.
    func finish() {
        switch target {
        case .events(let continuation): continuation.finish()
        case .signals(let continuation):
            continuation.yield(.ended)
            continuation.finish()
        }
    }
}
