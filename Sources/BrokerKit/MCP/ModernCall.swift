/// One request on a user child as seen by the modern endpoint. It may outlive the HTTP request
/// that started it: when the child asks the client for input (MRTR), the call is parked and the
/// client's retry, a new HTTP request, reads the rest of its events. So the child's events are
/// buffered in the call's `inbox`, which the bridge writes into directly and no HTTP request's
/// cancellation can end (cancelling a reader of an `AsyncStream` ends the stream).
public actor ModernCall: UserChildCall {
    typealias Next = CallInbox.Next

    enum Phase: Sendable {
        case running, parked, done
    }

    /// The call's hold on the user child, released when the call ends.
    let lease: ChildLease
    public nonisolated let clientID: String
    /// Where the bridge puts the call's events (the sink its request is sent with).
    nonisolated let inbox: CallInbox
    /// Set once the request is on the child (`attach`).
    private var ticket: SessionTicket?
    private(set) var phase = Phase.running
    /// Registered with the host as running (revocable, and possibly taking input).
    private var registered = false

    /// A call on the user child `lease` holds, before its request is sent.
    init(on lease: ChildLease, clientID: String) {
        self.lease = lease
        self.clientID = clientID
        inbox = CallInbox(limit: lease.host.limits.maxBufferedEventBytes, overflowKind: .modernCall)
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
