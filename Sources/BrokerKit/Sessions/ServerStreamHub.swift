/// Delivers a session's unsolicited child messages (those that belong to no open request) to
/// the one GET stream the client has open. A new GET replaces the previous one: a client that
/// reconnects usually does so because its old connection is dead, and 409 would lock it out
/// until the dead stream is noticed. Messages that arrive with no stream open are kept (up to a
/// bound in count and bytes) so a server→client request is not lost while the client reconnects.
///
/// What waits for the open stream's reader is bounded too (`BufferBound`): a client that stops
/// reading its GET stream while the child keeps talking gets the stream closed, and reconnects.
actor ServerStreamHub {
    /// One GET stream: its messages, and the budget its writer frees as it takes them.
    struct Subscription: Sendable {
        let id: Int
        let messages: AsyncStream<[UInt8]>
        let budget: BufferBudget
    }

    private var subscriber: (id: Int, continuation: AsyncStream<[UInt8]>.Continuation, budget: BufferBudget)?
    private var nextID = 0
    private var backlog: [[UInt8]] = []
    private var backlogBytes = 0
    private var closed = false
    private let backlogLimit: Int
    /// Bounds both the backlog and what waits for an open stream's reader: one limit, so the
    /// backlog a new GET starts with always fits its stream's budget.
    let byteLimit: Int

    init(backlogLimit: Int = 64, byteLimit: Int = BufferBound.defaultLimit) {
        self.backlogLimit = backlogLimit
        self.byteLimit = byteLimit
    }

    /// Opens the stream for a new GET, ending the previous one. Nil once the session is over.
    func attach() -> Subscription? {
        guard !closed else { return nil }
        subscriber?.continuation.finish()
        nextID += 1
        let (messages, continuation) = AsyncStream<[UInt8]>.makeStream()
        let budget = BufferBudget(limit: byteLimit)
        for message in backlog {
            _ = budget.offer(message.count)
            continuation.yield(message)
        }
        backlog.removeAll()
        backlogBytes = 0
        subscriber = (nextID, continuation, budget)
        return Subscription(id: nextID, messages: messages, budget: budget)
    }

    func detach(_ id: Int) {
        guard subscriber?.id == id else { return }
        subscriber?.continuation.finish()
        subscriber = nil
    }

    func publish(_ message: [UInt8]) {
        guard let subscriber else {
            keep(message)
            return
        }
        switch subscriber.budget.offer(message.count) {
        case .accept:
            subscriber.continuation.yield(message)
        case .overflow, .drop:
            // The reader is too far behind: its stream ends after what it already has, and this
            // message waits for the reconnecting GET like any other with no stream open.
            BridgeMetrics.overflowed(.serverStream)
            subscriber.continuation.finish()
            self.subscriber = nil
            keep(message)
        }
    }

    /// Keeps a message for the next GET, within the backlog's count and byte bounds.
    private func keep(_ message: [UInt8]) {
        guard backlog.count < backlogLimit, backlog.isEmpty || backlogBytes + message.count <= byteLimit else { return }
        backlog.append(message)
        backlogBytes += message.count
    }

    func close() {
        closed = true
        subscriber?.continuation.finish()
        subscriber = nil
        backlog.removeAll()
        backlogBytes = 0
    }
}
