import Synchronization

/// One call's events, written by the bridge (as the call's `BridgeEventSink`) and read by the
/// HTTP request carrying the call: a legacy POST (its JSON window, then its SSE stream), or
/// whichever request currently carries a 2026-07-28 call (one may outlive the request that
/// started it, see `ModernCall`). A lock rather than an actor, a stream or a pump task: the
/// bridge hands over each event synchronously and the reader waits on a continuation, so a call
/// costs no task, no stream and no executor hop per event. No request's cancellation can end
/// the inbox (cancelling a reader of an `AsyncStream` would end the stream).
final class CallInbox: BridgeEventSink {
    /// An event; `.tick` when the deadline passed first (time for a keep-alive, or the reader
    /// was cancelled); `.ended` when the child side is finished (answered, cancelled or gone)
    /// and nothing is buffered. The signals every stream the SSE writer serves is read as.
    typealias Next = StreamSignal<BridgeEvent>

    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Next, Never>
        var timer: KeepAliveTimer.Handle?
    }

    private struct State {
        var buffer: [BridgeEvent] = []
        /// Bounds the side messages buffered for a reader that is slow, gone or parked.
        var bound: BufferBound
        var ended = false
        /// The child's answer has come (handed to a reader or buffered): an injected message
        /// after it would never be read, and its sender would wait for a reply forever.
        var answered = false
        var waiter: Waiter?
        var nextWaiterID = 0

        /// Hands `event` to the waiting reader (returned, to be woken outside the lock) or buffers
        /// it; false when a side message overflows the bound.
        mutating func offer(_ event: BridgeEvent) -> (Waiter?, accepted: Bool) {
            if case .response = event { answered = true }
            if let waiter {
                self.waiter = nil
                return (waiter, true)
            }
            if case .message(let bytes) = event {
                switch bound.offer(bytes.count) {
                case .accept: break
                case .overflow:
                    buffer.removeAll()
                    return (nil, false)
                case .drop: return (nil, true)
                }
            }
            buffer.append(event)
            return (nil, true)
        }

        mutating func takeFirst() -> BridgeEvent? {
            guard !buffer.isEmpty else { return nil }
            let event = buffer.removeFirst()
            if case .message(let bytes) = event { bound.taken(bytes.count) }
            return event
        }

        /// What a reader gets right now without waiting, if anything.
        mutating func ready() -> Next? {
            if let event = takeFirst() { return .item(event) }
            return ended ? .ended : nil
        }
    }

    let limit: Int
    let overflowKind: BridgeMetrics.Stream
    private let state: Mutex<State>

    init(limit: Int, overflowKind: BridgeMetrics.Stream) {
        self.limit = limit
        self.overflowKind = overflowKind
        state = Mutex(State(bound: BufferBound(limit: limit)))
    }

    /// From the bridge. A reader waiting gets the event at once; otherwise it is buffered. A
    /// side message past the bound drops what is buffered and is refused: the bridge then ends
    /// the call, whose answer (the overflow error) is the next thing the reader sees.
    func yield(_ event: BridgeEvent) -> Bool {
        // Nothing is read after the end (the bridge hands no event to a call it ended; a late
        // one is dropped here all the same).
        let (waiter, accepted) = state.withLock { $0.ended ? (nil, true) : $0.offer(event) }
        if let waiter { Self.wake(waiter, with: .item(event)) }
        return accepted
    }

    /// The call's answer and its end under one lock (`yield` then `finish`, as every call ends).
    func answer(_ response: [UInt8]) {
        let event = BridgeEvent.response(response)
        let waiter: Waiter? = state.withLock { state in
            guard !state.ended else { return nil }
            defer { state.ended = true }
            return state.offer(event).0
        }
        if let waiter { Self.wake(waiter, with: .item(event)) }
    }

    func finish() {
        let waiter: (Waiter, Next)? = state.withLock { state in
            state.ended = true
            guard let waiter = state.waiter else { return nil }
            state.waiter = nil
            return (waiter, state.ready() ?? .ended)
        }
        if let (waiter, next) = waiter { Self.wake(waiter, with: next) }
    }

    /// A message the host attributes to this call; false once the call has ended or its answer
    /// has come (see `ModernCall.inject`). Checked and offered under one lock: the bridge may
    /// deliver the answer from another thread in between.
    func inject(_ message: [UInt8]) -> Bool {
        let event = BridgeEvent.message(message)
        let (waiter, accepted): (Waiter?, Bool) = state.withLock { state in
            guard !state.ended, !state.answered else { return (nil, false) }
            return state.offer(event)
        }
        if let waiter { Self.wake(waiter, with: .item(event)) }
        return accepted
    }

    /// The next event, or `.tick` once `deadline` passes or the reading task is cancelled. The
    /// deadline is a one-shot entry of the shared coarse timer, removed when an event comes first.
    func next(until deadline: ContinuousClock.Instant) async -> Next {
        let id: Int
        do {
            let (ready, waiterID) = state.withLock { state in
                state.nextWaiterID += 1
                return (state.ready(), state.nextWaiterID)
            }
            if let ready { return ready }
            id = waiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready: Next? = state.withLock { state in
                    if let ready = state.ready() { return ready }
                    if Task.isCancelled { return .tick }
                    state.waiter = Waiter(id: id, continuation: continuation)
                    return nil
                }
                if let ready { return continuation.resume(returning: ready) }
                let timer = KeepAliveTimer.shared.schedule(first: deadline - .now, every: nil) { [weak self] in
                    self?.expire(id)
                }
                let armed = state.withLock { state in
                    guard state.waiter?.id == id else { return false }
                    state.waiter?.timer = timer
                    return true
                }
                if !armed { timer.cancel() }
            }
        } onCancel: {
            expire(id)
        }
    }

    /// The deadline passed (or the reader was cancelled) while waiter `id` still waits.
    private func expire(_ id: Int) {
        let waiter: Waiter? = state.withLock { state in
            guard let waiter = state.waiter, waiter.id == id else { return nil }
            state.waiter = nil
            return waiter
        }
        if let waiter { Self.wake(waiter, with: .tick) }
    }

    private static func wake(_ waiter: Waiter, with next: Next) {
        waiter.timer?.cancel()
        waiter.continuation.resume(returning: next)
    }
}
