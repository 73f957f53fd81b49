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

    static func event(_ json: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer(string: "event: message\ndata: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
        return buffer
    }

    /// A comment line: ignored by clients, but keeps proxies and idle timers from closing the stream.
    static let keepAlive = ByteBuffer(string: ": keep-alive\n\n")
}
