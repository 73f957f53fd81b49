/// A value that is set once and awaited by any number of tasks, each of which may give up
/// (cancellation or timeout) without disturbing the others. Used for "the child has exited"
/// and "the child has started".
actor Latch<Value: Sendable> {
    private var value: Value?
    private var waiters: [Int: CheckedContinuation<Value?, Never>] = [:]
    private var nextWaiter = 0
    private var patientWaiters: [CheckedContinuation<Value, Never>] = []

    var current: Value? { value }

    func resolve(_ newValue: Value) {
        guard value == nil else { return }
        value = newValue
        for waiter in waiters.values { waiter.resume(returning: newValue) }
        waiters.removeAll()
        for waiter in patientWaiters { waiter.resume(returning: newValue) }
        patientWaiters.removeAll()
    }

    /// The value, however long it takes. For waits whose abandonment would leak something, such
    /// as a launch that goes ahead anyway; the resolver must be guaranteed to run.
    func waitIgnoringCancellation() async -> Value {
        if let value { return value }
        return await withCheckedContinuation { patientWaiters.append($0) }
    }

    /// The value, or nil if the waiting task is cancelled first.
    func wait() async -> Value? {
        if let value { return value }
        nextWaiter += 1
        let ticket = nextWaiter
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume(returning: nil)
                } else {
                    waiters[ticket] = continuation
                }
            }
        } onCancel: {
            Task { await self.abandon(ticket) }
        }
    }

    /// The value, or nil if it is not set within `timeout`.
    func wait(timeout: Duration) async -> Value? {
        if let value { return value }
        return await withTimeout(timeout) { await self.wait() }
    }

    private func abandon(_ ticket: Int) {
        waiters.removeValue(forKey: ticket)?.resume(returning: nil)
    }
}
