import Synchronization

/// One request's hold on a hosted child: while held, the child is busy and never reaped as idle.
/// Released exactly once, through `release()`.
public struct ChildLease: Sendable {
    let host: ChildHost
    public let key: ChildKey
    public let child: HostedChild
    /// Distinguishes this child from a later one under the same key (a user child that ended
    /// and was started again), so a late release never frees the wrong one.
    let serial: Int

    public func release() async {
        await host.release(self)
    }
}

/// Runs a cleanup exactly once: when `run()` is called or, failing that, when the guard is
/// freed. A streaming response's body closure is not run at all when the client reset the
/// connection before its headers were written; whatever that closure captured is freed with the
/// dropped response instead, so cleanup tied to this guard (release a lease, cancel the call on
/// the child) cannot be skipped.
final class CleanupGuard: Sendable {
    private let action: Mutex<(@Sendable () async -> Void)?>

    init(_ action: @escaping @Sendable () async -> Void) {
        self.action = Mutex(action)
    }

    /// Runs the cleanup now unless it already ran.
    func run() async {
        if let action = take() { await action() }
    }

    /// Forgets the cleanup: what it would undo was handed over elsewhere.
    func dismiss() {
        _ = take()
    }

    private func take() -> (@Sendable () async -> Void)? {
        action.withLock { action in
            defer { action = nil }
            return action
        }
    }

    deinit {
        if let action = take() { Task { await action() } }
    }
}
