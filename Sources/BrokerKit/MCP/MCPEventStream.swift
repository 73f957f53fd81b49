import Hummingbird
import NIOCore

/// What an SSE writer waits for: the next item of its source, a keep-alive tick, or the end.
enum StreamSignal<Element: Sendable>: Sendable {
    case item(Element)
    case tick
    case ended
}

/// Server-Sent Events plumbing shared by POST answers and the GET stream.
enum MCPEventStream {
    static let headers: HTTPFields = [
        .contentType: "text/event-stream", .cacheControl: "no-cache", .xAccelBuffering: "no",
    ]

    /// Merges `source` with keep-alive ticks: the first after `firstTick`, then every `interval`.
    /// Ticks stop when the merged stream is finished or abandoned.
    static func signals<Element: Sendable>(
        _ source: AsyncStream<Element>, firstTick: Duration, interval: Duration
    ) -> AsyncStream<StreamSignal<Element>> {
        let (signals, continuation) = AsyncStream<StreamSignal<Element>>.makeStream()
        let forward = Task {
            for await item in source { continuation.yield(.item(item)) }
            continuation.yield(.ended)
            continuation.finish()
        }
        let ticker = Task {
            try? await Task.sleep(for: firstTick)
            while !Task.isCancelled {
                continuation.yield(.tick)
                try? await Task.sleep(for: interval)
            }
        }
        continuation.onTermination = { _ in
            forward.cancel()
            ticker.cancel()
        }
        return signals
    }

    /// Writes one call's SSE answer: a keep-alive first (so the headers leave now), then `first`
    /// and every later signal, until the response is written or the source ends. Runs until the
    /// client closes its side of the connection at the latest; throws then, or when a write fails,
    /// so the caller can cancel the call. Shared by the session and the modern POST paths.
    static func relay(
        first: StreamSignal<BridgeEvent>?, then signals: AsyncStream<StreamSignal<BridgeEvent>>,
        request: Request, to writer: inout any ResponseBodyWriter
    ) async throws {
        try await request.body.consumeWithCancellationOnInboundClose { _ in
            try await writer.write(keepAlive)
            var next = first
            var iterator = signals.makeAsyncIterator()
            while let signal = next {
                switch signal {
                case .item(.message(let bytes)): try await writer.write(event(bytes))
                case .item(.response(let bytes)):
                    try await writer.write(event(bytes))
                    return
                case .tick: try await writer.write(keepAlive)
                case .ended: return
                }
                next = await iterator.next()
            }
            // The stream only stops without an end marker when this task was cancelled.
            try Task.checkCancellation()
        }
    }

    static func event(_ json: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer(string: "event: message\ndata: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
        return buffer
    }

    /// A comment line: ignored by clients, but keeps proxies and idle timers from closing the stream.
    static let keepAlive = ByteBuffer(string: ": keep-alive\n\n")
}
