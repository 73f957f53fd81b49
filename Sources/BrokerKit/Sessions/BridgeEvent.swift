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
}

/// Caller mistakes the bridge rejects before touching the child; both are -32600 (Invalid Request).
public enum BridgeError: Error, Equatable, Sendable {
    case notARequest
    case notANotification

    public var code: Int { -32600 }
}
