import Synchronization

/// One request on a user child as seen by the modern endpoint. It may outlive the HTTP request
/// that started it: when the child asks the client for input (MRTR), the call is parked and the
/// client's retry, a new HTTP request, reads the rest of its events. So the child's events are
/// buffered in the call's `inbox`, which the bridge writes into directly and no HTTP request's
/// cancellation can end (cancelling a reader of an `AsyncStream` ends the stream).
public actor ModernCall: UserChildCall {
    enum Next: Sendable {
        case event(BridgeEvent)
        /// The deadline passed first (time for a keep-alive, or the reader was cancelled).
        case tick
        /// The child side is finished (answered, cancelled or gone) and nothing is buffered.
        case ended
    }

    enum Phase: Sendable {
        case running, parked, done
    }

    /// The call's hold on the user child, released when the call ends.
    let lease: ChildLease
    public nonisolated let clientID: String
    /// Where the bridge puts the call's events (the sink its request is sent with).
    nonisolated let inbox: ModernCallInbox
    /// Set once the request is on the child (`attach`).
    private var ticket: SessionTicket?
    private(set) var phase = Phase.running
    /// Registered with the host as running (revocable, and possibly taking input).
    private var registered = false

    /// A call on the user child `lease` holds, before its request is sent.
    init(on lease: ChildLease, clientID: String) {
        self.lease = lease
        self.clientID = clientID
        inbox = ModernCallInbox(limit: lease.host.limits.maxBufferedEventBytes)
    }

    nonisolated var child: HostedChild { lease.child }

    /// The request is on the child, its events going to `inbox`.
    func attach(_ ticket: SessionTicket) {
        self.ticket = ticket
    }

    /// The next event, or `.tick` once `deadline` passes (or the reading task is cancelled).
    /// Read from the inbox directly: no hop onto this actor per read.
    nonisolated func next(until deadline: ContinuousClock.Instant) async -> Next {
        await inbox.next(until: deadline)
    }

    /// A server→client request the bridge could not attribute (several calls pending) that the
    /// host gives to this call, the only one able to take input right now. False when the call
    /// stopped reading meanwhile (parked, done, or its answer already buffered: `step` returns
    /// on the answer and would never see what follows it); the host then refuses the request to
    /// the child, which would otherwise wait forever for an answer nobody sends.
    public func inject(_ message: [UInt8]) -> Bool {
        phase == .running && inbox.inject(message)
    }

    /// While running, the call is registered with the host: revocation of its client ends it,
    /// and when `takesInput` (an MRTR-capable request that declared a capability) it is a
    /// candidate owner of the child's unattributed server→client requests.
    func run(takesInput: Bool) async {
        guard phase == .running, !registered else { return }
        registered = true
        await lease.host.register(self, on: lease, takesInput: takesInput)
    }

    private func withdraw() async {
        guard registered else { return }
        registered = false
        await lease.host.withdraw(self, from: lease)
    }

    func park() async {
        if phase == .running { phase = .parked }
        await withdraw()
    }

    /// False when the call was meanwhile abandoned (its parking expired).
    func resume() -> Bool {
        guard phase == .parked else { return false }
        phase = .running
        return true
    }

    /// The answer was delivered: the child's lease is given back.
    func finish() async {
        guard phase != .done else { return }
        phase = .done
        await withdraw()
        await lease.release()
    }

    /// Cancels the call on the child (notifications/cancelled) and frees the child. A parked
    /// call is only abandoned when `includingParked` (its parking expired): a client that
    /// closed the stream carrying an `input_required` result may still retry.
    func abandon(reason: String, includingParked: Bool) async {
        guard phase == .running || (includingParked && phase == .parked) else { return }
        phase = .done
        await withdraw()
        if let ticket { await ticket.cancel(reason: reason) }
        await lease.release()
    }

    /// Revocation: the call ends whatever its phase.
    public func abandon(reason: String) async {
        await abandon(reason: reason, includingParked: true)
    }
}

/// A 2026-07-28 call's events, written by the bridge (as the call's `BridgeEventSink`) and read
/// by whichever HTTP request currently carries the call. A lock rather than an actor or a pump
/// task: the bridge hands over each event synchronously and the reader waits on a continuation,
/// so a call costs no task, no stream and no executor hop per event.
final class ModernCallInbox: BridgeEventSink {
    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<ModernCall.Next, Never>
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
        mutating func ready() -> ModernCall.Next? {
            if let event = takeFirst() { return .event(event) }
            return ended ? .ended : nil
        }
    }

    let limit: Int
    private let state: Mutex<State>

    init(limit: Int) {
        self.limit = limit
        state = Mutex(State(bound: BufferBound(limit: limit)))
    }

    var overflowKind: BridgeMetrics.Stream { .modernCall }

    /// From the bridge. A reader waiting gets the event at once; otherwise it is buffered. A
    /// side message past the bound drops what is buffered and is refused: the bridge then ends
    /// the call, whose answer (the overflow error) is the next thing the reader sees.
    func yield(_ event: BridgeEvent) -> Bool {
        let (waiter, accepted) = state.withLock { $0.offer(event) }
        if let waiter { Self.wake(waiter, with: .event(event)) }
        return accepted
    }

    func finish() {
        let waiter: (Waiter, ModernCall.Next)? = state.withLock { state in
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
        if let waiter { Self.wake(waiter, with: .event(event)) }
        return accepted
    }

    /// The next event, or `.tick` once `deadline` passes or the reading task is cancelled. The
    /// deadline is a one-shot entry of the shared coarse timer, removed when an event comes first.
    func next(until deadline: ContinuousClock.Instant) async -> ModernCall.Next {
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
                let ready: ModernCall.Next? = state.withLock { state in
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

    private static func wake(_ waiter: Waiter, with next: ModernCall.Next) {
        waiter.timer?.cancel()
        waiter.continuation.resume(returning: next)
    }
}
