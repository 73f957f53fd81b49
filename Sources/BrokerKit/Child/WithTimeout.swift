import Synchronization

/// The result of `body`, or nil if `timeout` passes first (`body` is then cancelled). For waits
/// that must give up without an error: a child that never answers, a latch never resolved.
func withTimeout<Value: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async -> Value?) async -> Value? {
    await withTaskGroup(of: Value?.self) { group in
        group.addTask { await body() }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

/// `work`'s result, or nil at `deadline` without waiting for `work` to notice: for work that
/// may ignore cancellation (a blocking `getaddrinfo`, a store call on a dead connection), which
/// `withTimeout` would wait for.
func race<Value: Sendable>(until deadline: ContinuousClock.Instant, _ work: @escaping @Sendable () async -> Value) async -> Value? {
    let outcome = Mutex<CheckedContinuation<Value?, Never>?>(nil)
    return await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
        outcome.withLock { $0 = continuation }
        let finish = { @Sendable (value: Value?) in outcome.withLock { $0.take() }?.resume(returning: value) }
        let timer = Task {
            // A cancelled sleep is the work's answer arriving: only a deadline reached says nil.
            guard (try? await Task.sleep(until: deadline)) != nil else { return }
            finish(nil)
        }
        Task {
            let value = await work()
            // Answer first: the cancelled timer must not be able to answer nil before it.
            finish(value)
            timer.cancel()
        }
    }
}
