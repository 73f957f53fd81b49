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
