/// At most `count` bodies at once; the others wait in arrival order.
///
/// Why the PostgreSQL store needs it: a Forgejo refresh holds its user's advisory lock in a
/// transaction, i.e. one pooled connection, for as long as the refresh takes (Forgejo calls with
/// their timeouts), and its own store calls need a second connection. With as many refreshes at
/// once as the pool has connections (after a restart or an outage every user's token is stale),
/// each would hold one connection and wait for another forever, and every store call with them.
actor AsyncPermits {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) {
        available = max(1, count)
    }

    private func acquire() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func release() {
        if waiters.isEmpty {
            available += 1
        } else {
            waiters.removeFirst().resume()
        }
    }

    /// Runs `body` holding a permit, released however it ends.
    nonisolated func run<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        await acquire()
        do {
            let result = try await body()
            await release()
            return result
        } catch {
            await release()
            throw error
        }
    }
}
