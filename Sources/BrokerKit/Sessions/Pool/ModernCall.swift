/// One request on a pooled child as seen by the modern endpoint. It may outlive the HTTP request
/// that started it: when the child asks the client for input (MRTR), the call is parked and the
/// client's retry, a new HTTP request, reads the rest of its events. So the child's events are
/// buffered here by a pump that no HTTP request's cancellation can end, instead of being read
/// straight from the bridge's stream (cancelling a reader of an `AsyncStream` ends the stream).
public actor ModernCall {
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

    let child: PooledChild
    /// Set once the request is on the child (`attach`).
    private var ticket: BridgeTicket?
    private let pool: ModernChildPool
    private var buffer: [BridgeEvent] = []
    private var ended = false
    private var waiter: (id: Int, continuation: CheckedContinuation<Next, Never>, timer: Task<Void, Never>)?
    private var nextWaiterID = 0
    private(set) var phase = Phase.running
    /// Registered with the pool as a call that may take the child's server→client requests.
    private var candidate = false

    /// A call on `child` (acquired from `pool`, released when the call ends), before its request
    /// is sent: offering it for input first means a server→client request the child sends at
    /// once can never find it unregistered.
    init(on child: PooledChild, pool: ModernChildPool) {
        self.child = child
        self.pool = pool
    }

    /// Takes over the events of the request sent to the child.
    func attach(_ call: BridgeCall) {
        ticket = call.ticket
        Task {
            for await event in call.events { await self.push(event) }
            await self.finishEvents()
        }
    }

    /// The next event, or `.tick` once `deadline` passes (or the reading task is cancelled).
    func next(until deadline: ContinuousClock.Instant) async -> Next {
        if !buffer.isEmpty { return .event(buffer.removeFirst()) }
        if ended { return .ended }
        nextWaiterID += 1
        let id = nextWaiterID
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let timer = Task {
                    guard (try? await Task.sleep(until: deadline)) != nil else { return }
                    await self.wake(id, with: .tick)
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
    /// pool gives to this call, the only one able to take input right now. False when the call
    /// stopped reading meanwhile (parked, done, or its answer already buffered: `step` returns
    /// on the answer and would never see what follows it); the pool then refuses the request to
    /// the child, which would otherwise wait forever for an answer nobody sends.
    func inject(_ event: BridgeEvent) -> Bool {
        guard phase == .running, !ended, !buffer.contains(where: { if case .response = $0 { true } else { false } }) else {
            return false
        }
        push(event)
        return true
    }

    /// While running, this call (an MRTR-capable request that declared a capability) is the
    /// pool's candidate owner for unattributed server→client requests of its child.
    func offerForInput() async {
        guard phase == .running, !candidate else { return }
        candidate = true
        await pool.addInputCandidate(self)
    }

    private func withdrawFromInput() async {
        guard candidate else { return }
        candidate = false
        await pool.removeInputCandidate(self)
    }

    private func push(_ event: BridgeEvent) {
        if let waiter {
            self.waiter = nil
            waiter.timer.cancel()
            waiter.continuation.resume(returning: .event(event))
        } else {
            buffer.append(event)
        }
    }

    private func finishEvents() {
        ended = true
        if let waiter {
            self.waiter = nil
            waiter.timer.cancel()
            waiter.continuation.resume(returning: buffer.isEmpty ? .ended : .event(buffer.removeFirst()))
        }
    }

    func park() async {
        if phase == .running { phase = .parked }
        await withdrawFromInput()
    }

    /// False when the call was meanwhile abandoned (its parking expired).
    func resume() -> Bool {
        guard phase == .parked else { return false }
        phase = .running
        return true
    }

    /// The answer was delivered: the child is free for the pool again.
    func finish() async {
        guard phase != .done else { return }
        phase = .done
        await withdrawFromInput()
        await pool.release(child)
    }

    /// Cancels the call on the child (notifications/cancelled) and frees the child. A parked
    /// call is only abandoned when `includingParked` (its parking expired): a client that
    /// closed the stream carrying an `input_required` result may still retry.
    func abandon(reason: String, includingParked: Bool = false) async {
        guard phase == .running || (includingParked && phase == .parked) else { return }
        phase = .done
        await withdrawFromInput()
        if let ticket { await child.bridge.cancel(ticket, reason: reason) }
        await pool.release(child)
    }
}
