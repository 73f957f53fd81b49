/// One request on a user child as seen by the modern endpoint. It may outlive the HTTP request
/// that started it: when the child asks the client for input (MRTR), the call is parked and the
/// client's retry, a new HTTP request, reads the rest of its events. So the child's events are
/// buffered here by a pump that no HTTP request's cancellation can end, instead of being read
/// straight from the bridge's stream (cancelling a reader of an `AsyncStream` ends the stream).
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
    /// Set once the request is on the child (`attach`).
    private var ticket: SessionTicket?
    private var buffer: [BridgeEvent] = []
    /// Bounds the side messages buffered for a reader that is slow, gone or parked.
    private var bound: BufferBound
    private var ended = false
    private var waiter: (id: Int, continuation: CheckedContinuation<Next, Never>, timer: KeepAliveTimer.Handle)?
    private var nextWaiterID = 0
    private(set) var phase = Phase.running
    /// Registered with the host as running (revocable, and possibly taking input).
    private var registered = false

    /// A call on the user child `lease` holds, before its request is sent.
    init(on lease: ChildLease, clientID: String) {
        self.lease = lease
        self.clientID = clientID
        bound = BufferBound(limit: lease.host.limits.maxBufferedEventBytes)
    }

    nonisolated var child: HostedChild { lease.child }

    /// Takes over the events of the request sent to the child.
    func attach(_ call: SessionCall) {
        ticket = call.ticket
        // Runs on this actor (the task inherits its isolation): no hop per event.
        Task {
            for await event in call.events { self.push(event) }
            self.finishEvents()
        }
    }

    /// The next event, or `.tick` once `deadline` passes (or the reading task is cancelled).
    func next(until deadline: ContinuousClock.Instant) async -> Next {
        if let event = takeFirst() { return .event(event) }
        if ended { return .ended }
        nextWaiterID += 1
        let id = nextWaiterID
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // The shared coarse timer: no task or timer of its own per wait.
                let timer = KeepAliveTimer.shared.schedule(first: deadline - .now, every: .seconds(3600)) {
                    Task { await self.wake(id, with: .tick) }
                }
                waiter = (id, continuation, timer)
            }
        } onCancel: {
            Task { await self.wake(id, with: .tick) }
        }
    }

    private func wake(_ id: Int, with value: Next) {
        guard let waiter, waiter.id == id else { return }
        self.waiter = nil
        waiter.timer.cancel()
        waiter.continuation.resume(returning: value)
    }

    /// A server→client request the bridge could not attribute (several calls pending) that the
    /// host gives to this call, the only one able to take input right now. False when the call
    /// stopped reading meanwhile (parked, done, or its answer already buffered: `step` returns
    /// on the answer and would never see what follows it); the host then refuses the request to
    /// the child, which would otherwise wait forever for an answer nobody sends.
    public func inject(_ message: [UInt8]) -> Bool {
        guard phase == .running, !ended, !buffer.contains(where: { if case .response = $0 { true } else { false } }) else {
            return false
        }
        push(.message(message))
        return true
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

    private func push(_ event: BridgeEvent) {
        if let waiter {
            self.waiter = nil
            waiter.timer.cancel()
            waiter.continuation.resume(returning: .event(event))
            return
        }
        if case .message(let bytes) = event {
            switch bound.offer(bytes.count) {
            case .accept: break
            case .overflow:
                overflowed()
                return
            case .drop: return
            }
        }
        buffer.append(event)
    }

    private func takeFirst() -> BridgeEvent? {
        guard !buffer.isEmpty else { return nil }
        let event = buffer.removeFirst()
        if case .message(let bytes) = event { bound.taken(bytes.count) }
        return event
    }

    /// The reader fell more than the bound behind: what is buffered is dropped and the bridge
    /// ends the call, whose answer (the overflow error) is then the next thing the reader sees.
    private func overflowed() {
        BridgeMetrics.overflowed(.modernCall)
        buffer.removeAll()
        guard let ticket else { return }
        let limit = bound.limit
        Task { await ticket.bridge.endSlowCall(ticket.ticket, limit: limit) }
    }

    private func finishEvents() {
        ended = true
        if let waiter {
            self.waiter = nil
            waiter.timer.cancel()
            waiter.continuation.resume(returning: takeFirst().map(Next.event) ?? .ended)
        }
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
