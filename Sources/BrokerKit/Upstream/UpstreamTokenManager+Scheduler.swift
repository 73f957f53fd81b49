import Foundation
import ServiceLifecycle

/// Proactive refresh: every user with a live session is refreshed at `refreshFraction` of the
/// access token's lifetime, and `.refreshed` tells their sessions to swap children before the
/// token they run with expires (a forgejo-mcp child reads its token once, forgejo-notes D5).
extension UpstreamTokenManager: Service {
    /// The longest the scheduler waits without re-planning, so a clock jump or a missed wake-up
    /// costs at most this much.
    static let maximumIdle: TimeInterval = 3600

    /// Sessions call this when they start; reference-counted per user. Every call re-plans the
    /// user from the store, because a new session may follow a new login whose set the
    /// scheduler has not seen (e.g. after the previous one was declared dead).
    public func track(userID: Int64) {
        trackCounts[userID, default: 0] += 1
        schedule[userID] = nil
        wake()
    }

    /// Sessions call this when they end; the last one stops the user's scheduled refreshes.
    public func untrack(userID: Int64) {
        guard let count = trackCounts[userID] else { return }
        if count > 1 {
            trackCounts[userID] = count - 1
        } else {
            trackCounts[userID] = nil
            schedule[userID] = nil
        }
    }

    /// When the scheduler will next refresh the user, if tracked and planned (diagnostics, tests).
    public func nextScheduledRefresh(userID: Int64) -> Date? {
        schedule[userID]
    }

    /// Runs the scheduler until cancelled or the service group shuts down gracefully, then lets
    /// the refreshes still running finish and be stored (the store closes after the services).
    public nonisolated func run() async throws {
        await cancelWhenGracefulShutdown { await self.runScheduler() }
        await finishRefreshes()
    }

    /// A service to list LAST in the broker's group: the group tells services of a graceful
    /// shutdown in reverse order, so this one hears of it first and stops new refreshes at the
    /// signal, while sessions are still being stopped and the manager itself runs on.
    public nonisolated var shutdownSentinel: some Service {
        UpstreamRefreshShutdownSentinel(manager: self)
    }

    private func runScheduler() async {
        while !Task.isCancelled {
            await planTrackedUsers()
            let now = clock.now()
            let due = schedule.filter { $0.value <= now }.map(\.key)
            guard !due.isEmpty else {
                let next = schedule.values.min() ?? .distantFuture
                await sleep(until: min(next, now.addingTimeInterval(Self.maximumIdle)))
                continue
            }
            await withTaskGroup(of: Void.self) { group in
                for userID in due {
                    group.addTask { _ = await self.runRefresh(userID: userID, trigger: .scheduled) }
                }
            }
        }
    }

    /// Plans users tracked since the last pass from their stored set; a user without one is due
    /// at once, so the refresh declares them dead and their sessions end.
    private func planTrackedUsers() async {
        for userID in trackCounts.keys where schedule[userID] == nil {
            let due: Date
            do {
                due = try await refresher.load(userID: userID)?.refreshDue(policy: policy) ?? clock.now()
            } catch {
                due = clock.now().addingTimeInterval(policy.rescheduleDelay(afterFailures: 1).timeInterval)
            }
            if trackCounts[userID] != nil && schedule[userID] == nil { schedule[userID] = due }
        }
    }

    /// Records when a tracked user is next due and makes the scheduler re-plan.
    func reschedule(userID: Int64, at date: Date) {
        guard trackCounts[userID] != nil else { return }
        schedule[userID] = date
        wake()
    }

    private func sleep(until deadline: Date) async {
        let clock = self.clock
        let wait = Task { _ = try? await clock.sleep(until: deadline) }
        sleeper = wait
        await withTaskCancellationHandler {
            await wait.value
        } onCancel: {
            wait.cancel()
        }
        if sleeper == wait { sleeper = nil }
    }

    private func wake() {
        sleeper?.cancel()
    }
}

/// See `UpstreamTokenManager.shutdownSentinel`.
struct UpstreamRefreshShutdownSentinel: Service {
    let manager: UpstreamTokenManager

    func run() async throws {
        // Returns when graceful shutdown begins; throws when cancelled (then stop new refreshes too).
        try? await gracefulShutdown()
        await manager.beginShutdown()
    }
}
