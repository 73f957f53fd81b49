/// Delivers a session's unsolicited child messages (those that belong to no open request) to
/// the one GET stream the client has open. A new GET replaces the previous one: a client that
/// reconnects usually does so because its old connection is dead, and 409 would lock it out
/// until the dead stream is noticed. Messages that arrive with no stream open are kept (up to a
/// bound) so a server→client request is not lost while the client reconnects.
actor ServerStreamHub {
    private var subscriber: (id: Int, continuation: AsyncStream<[UInt8]>.Continuation)?
    private var nextID = 0
    private var backlog: [[UInt8]] = []
    private var closed = false
    private let backlogLimit: Int

    init(backlogLimit: Int = 64) {
        self.backlogLimit = backlogLimit
    }

    /// Opens the stream for a new GET, ending the previous one. Nil once the session is over.
    func attach() -> (id: Int, messages: AsyncStream<[UInt8]>)? {
        guard !closed else { return nil }
        subscriber?.continuation.finish()
        nextID += 1
        let (messages, continuation) = AsyncStream<[UInt8]>.makeStream()
        for message in backlog { continuation.yield(message) }
        backlog.removeAll()
        subscriber = (nextID, continuation)
        return (nextID, messages)
    }

    func detach(_ id: Int) {
        guard subscriber?.id == id else { return }
        subscriber?.continuation.finish()
        subscriber = nil
    }

    func publish(_ message: [UInt8]) {
        if let subscriber {
            subscriber.continuation.yield(message)
        } else if backlog.count < backlogLimit {
            backlog.append(message)
        }
    }

    func close() {
        closed = true
        subscriber?.continuation.finish()
        subscriber = nil
        backlog.removeAll()
    }
}
