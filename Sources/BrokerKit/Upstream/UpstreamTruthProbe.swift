import Logging
import Metrics
import ServiceLifecycle

/// Hears reasons to doubt a user's Forgejo token. Called on the path of a call that just
/// ended, so it never waits: the doubt is handed to an actor that coalesces.
public protocol UpstreamDoubts: Sendable {
    /// A call on one of the user's children ended in an error result or a JSON-RPC error
    /// (Forgejo's 401 inside a tool looks like any other tool failure from here).
    func callFailed(userID: Int64)
}

/// Upstream truth (issue 16): checks users' Forgejo tokens against Forgejo when there is reason
/// to doubt them — a failed call, a broker refresh, or simply time passing while the user has
/// live children — so that a grant revoked in Forgejo or a token Forgejo invalidated early is
/// noticed in seconds. What a probe finds is acted on by the token manager (`verify`): a
/// rejected token is refreshed and the children swapped, a dead grant ends the user's access,
/// and Forgejo being unreachable changes nothing. When to probe is `UpstreamTruthSchedule`.
///
/// It also stands in for the manager as the authorization server's `UpstreamGrantState`, so a
/// redeemed broker refresh token becomes a doubt without the authorization server knowing.
public actor UpstreamTruthProbe: Service, UpstreamDoubts, UpstreamGrantState {
    private let manager: UpstreamTokenManager
    private let logger: Logger
    private var schedule: UpstreamTruthSchedule
    /// Probes and wake-ups in progress, cancelled when the service stops.
    private var tasks: [Int: Task<Void, Never>] = [:]
    private var nextTask = 0
    private var stopped = false

    public init(manager: UpstreamTokenManager, settings: UpstreamTruthSchedule.Settings = .init(), logger: Logger) {
        self.manager = manager
        self.logger = logger
        schedule = UpstreamTruthSchedule(settings: settings)
    }

    public nonisolated func callFailed(userID: Int64) {
        Task { await self.doubt(userID: userID, cause: .failedCall) }
    }

    public nonisolated func refreshRedeemed(userID: Int64) {
        Task { await self.doubt(userID: userID, cause: .brokerRefresh) }
    }

    public func check(userID: Int64) async -> UpstreamGrantStatus {
        await manager.check(userID: userID)
    }


    /// Records a doubt; the probe it causes (now, or at the end of the spacing) runs in the background.
    public func doubt(userID: Int64, cause: UpstreamTruthSchedule.Cause) {
        perform(schedule.doubt(userID: userID, cause: cause, now: .now))
    }

    /// Runs the periodic rule until graceful shutdown; then stops every probe and wake-up.
    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.runPeriodic() }
        stop()
    }

    private func runPeriodic() async {
        // A tenth of the interval (at most 30 s) is the lateness a periodic probe may have.
        let tick = max(min(schedule.settings.periodicInterval / 10, .seconds(30)), .milliseconds(100))
        while !Task.isCancelled {
            try? await Task.sleep(for: tick)
            let tracked = await manager.trackedUserIDs
            for action in schedule.periodic(tracked: tracked, now: .now) { perform(action) }
        }
    }

    private func stop() {
        stopped = true
        for task in tasks.values { task.cancel() }
        tasks.removeAll()
    }

    private func perform(_ action: UpstreamTruthSchedule.Action?) {
        guard let action, !stopped else { return }
        switch action {
        case .probe(let userID, let cause):
            background { [manager] in
                let started = ContinuousClock.now
                let verdict = await manager.verify(userID: userID, cause: cause)
                await self.probeEnded(userID: userID, cause: cause, verdict: verdict, duration: ContinuousClock.now - started)
            }
        case .wake(let userID, let instant):
            background {
                guard (try? await Task.sleep(until: instant, clock: .continuous)) != nil else { return }
                await self.wakeUp(userID: userID)
            }
        }
    }

    private func background(_ work: @escaping @Sendable () async -> Void) {
        let id = nextTask
        nextTask += 1
        // The task cannot finish before it is recorded: `finished` needs this actor.
        tasks[id] = Task {
            await work()
            self.finished(id)
        }
    }

    private func finished(_ id: Int) {
        tasks[id] = nil
    }

    private func wakeUp(userID: Int64) {
        perform(schedule.wakeUp(userID: userID, now: .now))
    }

    private func probeEnded(userID: Int64, cause: UpstreamTruthSchedule.Cause, verdict: UpstreamTruthVerdict, duration: Duration) {
        Self.record(verdict, userID: userID, cause: cause, duration: duration, logger: logger)
        if case .dead = verdict {
            schedule.forget(userID: userID)
            return
        }
        perform(schedule.probeEnded(userID: userID, now: .now))
    }

    /// One counter and one log line per probe: user id, cause, verdict and reason code, never a token.
    static func record(_ verdict: UpstreamTruthVerdict, userID: Int64, cause: UpstreamTruthSchedule.Cause, duration: Duration,
                       logger: Logger) {
        Counter(label: "fjmcp_upstream_probes_total", dimensions: [("cause", cause.rawValue), ("verdict", verdict.label)]).increment()
        var metadata: Logger.Metadata = [
            "user_id": "\(userID)", "cause": .string(cause.rawValue), "verdict": .string(verdict.label),
            "duration_ms": "\(Int((duration.timeInterval * 1000).rounded()))",
        ]
        if let reason = verdict.reason { metadata["reason"] = .string(reason) }
        switch verdict {
        case .valid, .skipped: logger.debug("upstream_probe", metadata: metadata)
        case .replaced, .unknown: logger.info("upstream_probe", metadata: metadata)
        case .dead: logger.notice("upstream_probe", metadata: metadata)
        }
    }
}
