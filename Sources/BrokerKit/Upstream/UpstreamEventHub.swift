/// Fans `UpstreamTokenEvent`s out to any number of listeners, each with its own stream, so a
/// slow listener cannot hold up the token manager (each buffers the newest 256 events).
struct UpstreamEventHub: Sendable {
    private var listeners: [Int: AsyncStream<UpstreamTokenEvent>.Continuation] = [:]
    private var nextID = 0

    /// Adds a listener; `onEnd` receives its id when the listener stops iterating.
    mutating func subscribe(onEnd: @escaping @Sendable (Int) -> Void) -> AsyncStream<UpstreamTokenEvent> {
        let (stream, continuation) = AsyncStream<UpstreamTokenEvent>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let id = nextID
        nextID += 1
        listeners[id] = continuation
        continuation.onTermination = { _ in onEnd(id) }
        return stream
    }

    mutating func unsubscribe(_ id: Int) {
        listeners[id] = nil
    }

    func publish(_ event: UpstreamTokenEvent) {
        for continuation in listeners.values { continuation.yield(event) }
    }
}
