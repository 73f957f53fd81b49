import Hummingbird
import NIOCore
import Synchronization

/// What an SSE writer waits for: the next item of its source, a keep-alive tick, or the end.
enum StreamSignal<Element: Sendable>: Sendable {
    case item(Element)
    case tick
    case ended
}

/// What an SSE response writes next.
enum SSEFrame: Sendable {
    case event([UInt8])
    case keepAlive
    /// The stream's last event (a request's answer); the response ends after it.
    case last([UInt8])
    /// The response ends without another event.
    case end
}

/// Server-Sent Events plumbing shared by every `/mcp` stream.
enum MCPEventStream {
    /// Every SSE response also says `Connection: close`. Hummingbird's
    /// `consumeWithCancellationOnInboundClose` cancels its read of the connection once the stream
    /// is written, which ends the connection (the server closes it a moment later); a client or
    /// proxy that reused it at once for its next request saw "connection closed" (AsyncHTTPClient:
    /// "I/O on closed channel"; Caddy: 502 after a DELETE ended the GET stream). Announcing the
    /// close makes them open a fresh connection instead.
    static let headers: HTTPFields = [
        .contentType: "text/event-stream", .cacheControl: "no-cache", .xAccelBuffering: "no", .connection: "close",
    ]

    /// Merges `source` with keep-alive ticks: the first after `firstTick`, then every `interval`.
    /// Ticks stop when the merged stream is finished or abandoned. The ticks come from the shared
    /// `KeepAliveTimer`, so a stream costs one relay task and no timer of its own.
    static func signals<Element: Sendable>(
        _ source: AsyncStream<Element>, firstTick: Duration, interval: Duration
    ) -> AsyncStream<StreamSignal<Element>> {
        let (signals, continuation) = AsyncStream<StreamSignal<Element>>.makeStream()
        let ticks = armKeepAlive(continuation, firstTick: firstTick, interval: interval)
        let forward = Task {
            for await item in source { continuation.yield(.item(item)) }
            continuation.yield(.ended)
            continuation.finish()
        }
        continuation.onTermination = { _ in
            forward.cancel()
            ticks.cancel()
        }
        return signals
    }

    /// Ticks `continuation` after `firstTick`, then every `interval`, until the returned handle is
    /// cancelled. The caller cancels it from the stream's `onTermination`.
    private static func armKeepAlive<Element: Sendable>(
        _ continuation: AsyncStream<StreamSignal<Element>>.Continuation, firstTick: Duration, interval: Duration
    ) -> KeepAliveTimer.Handle {
        KeepAliveTimer.shared.schedule(first: firstTick, every: interval) { continuation.yield(.tick) }
    }

    /// The one writer of every SSE response (the POST answers of both eras, the GET stream,
    /// `subscriptions/listen`): writes `opening`, then the frames `next` produces, until a
    /// `.last` or `.end` frame, then finishes the response. Watches the client's side of the
    /// connection meanwhile: throws when the client goes away or a write fails, so the caller can
    /// cancel whatever the stream was carrying.
    static func write(_ request: Request, to writer: inout any ResponseBodyWriter, opening: [SSEFrame],
                      next: () async -> SSEFrame) async throws {
        try await request.body.consumeWithCancellationOnInboundClose { _ in
            var pending = opening
            while true {
                let frame = pending.isEmpty ? await next() : pending.removeFirst()
                switch frame {
                case .event(let bytes): try await writer.write(event(bytes))
                case .keepAlive: try await writer.write(keepAlive)
                case .last(let bytes):
                    try await writer.write(event(bytes))
                    return
                case .end: return
                }
                // A source only stops without an end frame when this task was cancelled.
                try Task.checkCancellation()
            }
        }
        try await writer.finish(nil)
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

/// One process-wide, coarse timer for the JSON window and SSE keep-alives. Every POST needs a
/// deadline ("switch to SSE if the child has not answered within the window") that almost never
/// fires; a sleeping task per request cost a task, a dispatch timer that lingers until its
/// deadline even when cancelled, and extra thread wake-ups. Here arming and cancelling is a
/// dictionary insert and remove, and one task ticks every `resolution` while anything is armed
/// (deadlines are late by up to one resolution, irrelevant next to windows of a second).
///
/// A `Mutex` rather than an actor: an actor would add an executor hop to every request, which is
/// the cost this type exists to avoid; the critical sections are a few dictionary operations.
final class KeepAliveTimer: Sendable {
    static let shared = KeepAliveTimer(resolution: .milliseconds(50))

    /// Cancels one schedule; safe to call more than once and after the timer fired.
    struct Handle: Sendable {
        fileprivate let timer: KeepAliveTimer
        fileprivate let id: UInt64

        func cancel() { timer.cancel(id) }
    }

    private struct Entry {
        var due: ContinuousClock.Instant
        /// Nil: a one-shot deadline, removed when it fires.
        let interval: Duration?
        let fire: @Sendable () -> Void
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        var running = false
        var idleTicks = 0
    }

    let resolution: Duration
    /// Ticks with nothing armed before the ticking task ends; keeps it alive between requests.
    private let idleTicksBeforeStop = 40
    private let state = Mutex(State())

    init(resolution: Duration) { self.resolution = resolution }

    /// Calls `fire` after `first`, then every `every` (nil: once), until the handle is cancelled.
    /// `fire` runs on the ticking task, outside the lock, so it may cancel (or schedule) itself.
    func schedule(first: Duration, every: Duration?, _ fire: @escaping @Sendable () -> Void) -> Handle {
        let entry = Entry(due: .now + first, interval: every, fire: fire)
        let (id, start) = state.withLock { state in
            state.nextID += 1
            state.entries[state.nextID] = entry
            let start = !state.running
            if start {
                // A new ticking task gets the whole idle allowance, not what the last one left.
                state.running = true
                state.idleTicks = 0
            }
            return (state.nextID, start)
        }
        if start { Task.detached { await self.tick() } }
        return Handle(timer: self, id: id)
    }

    private func cancel(_ id: UInt64) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }

    private func tick() async {
        while true {
            try? await Task.sleep(for: resolution)
            let now = ContinuousClock.now
            let due: [@Sendable () -> Void]? = state.withLock { state in
                guard !state.entries.isEmpty else {
                    state.idleTicks += 1
                    if state.idleTicks >= idleTicksBeforeStop {
                        state.running = false
                        return nil
                    }
                    return []
                }
                state.idleTicks = 0
                var due: [@Sendable () -> Void] = []
                for (id, entry) in state.entries where entry.due <= now {
                    due.append(entry.fire)
                    if let interval = entry.interval {
                        state.entries[id]?.due = now + interval
                    } else {
                        state.entries[id] = nil
                    }
                }
                return due
            }
            guard let due else { return }
            for fire in due { fire() }
        }
    }
}
