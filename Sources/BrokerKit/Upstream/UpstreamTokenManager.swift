import Foundation
import Logging

/// The only component that reads, refreshes and writes users' Forgejo token sets.
///
/// Forgejo rotates the refresh token on every use and rejects any older one (forgejo-notes A7),
/// so two refreshes of one user must never run side by side: within the process every refresh of
/// a user is single-flight (late callers await the running one), and across processes the store's
/// compare-and-swap decides, the loser adopting the winner's set. Final failures forget the set,
/// revoke the user's broker grants and tell listeners; transient ones never log anyone out.
public actor UpstreamTokenManager {
    let refresher: UpstreamRefresher
    let store: any BrokerStore
    let clock: any UpstreamClock
    let policy: UpstreamRefreshPolicy
    let logger: Logger
    /// Tells the other broker processes on the database when this one rotated a set; nil on SQLite.
    let changes: (any StoreChangePublisher)?

    private(set) var inFlight: [Int64: Task<UpstreamRefreshOutcome, Never>] = [:]
    /// Consecutive refreshes per user that ended transiently or misconfigured; cleared on success.
    var transientFailures: [Int64: Int] = [:]
    /// The generation last announced per user, so adopting the same set twice is announced once.
    var announced: [Int64: Int64] = [:]
    private var hub = UpstreamEventHub()
    /// When this process last rotated each user's token at Forgejo: the per-user rate limit.
    private var lastRotation: [Int64: Date] = [:]
    /// Set when graceful shutdown begins: from then on no refresh starts (running ones finish
    /// and are stored before the store closes, see `finishRefreshes`).
    private(set) var shuttingDown = false

    /// Scheduler state (see `UpstreamTokenManager+Scheduler`): how many sessions track a user.
    var trackCounts: [Int64: Int] = [:]
    /// Next scheduled refresh per tracked user; missing means "not planned yet".
    var schedule: [Int64: Date] = [:]
    /// The scheduler's current wait; cancelled to make it re-plan at once.
    var sleeper: Task<Void, Never>?

    /// - Parameters:
    ///   - masterKey: the broker's secret key; the sealing box is derived from it with the
    ///     purpose the login callback uses (`UpstreamTokenSet.purpose`).
    ///   - previousMasterKeys: keys of earlier rotations: sets sealed with them still open, and
    ///     the next refresh writes them sealed with `masterKey`.
    public init(
        store: any BrokerStore, forgejo: ForgejoClient, masterKey: [UInt8], previousMasterKeys: [[UInt8]] = [],
        clock: any UpstreamClock = SystemUpstreamClock(),
        policy: UpstreamRefreshPolicy = UpstreamRefreshPolicy(), logger: Logger, changes: (any StoreChangePublisher)? = nil
    ) {
        self.store = store
        self.changes = changes
        self.clock = clock
        self.policy = policy
        self.logger = logger
        refresher = UpstreamRefresher(
            store: store, forgejo: forgejo, box: SecretBox(masterKey: masterKey, purpose: UpstreamTokenSet.purpose, previousMasterKeys: previousMasterKeys),
            clock: clock, policy: policy)
    }

    /// A new stream of every later refresh and death; it ends when the listener stops iterating.
    public func events() -> AsyncStream<UpstreamTokenEvent> {
        hub.subscribe { [weak self] id in
            Task { await self?.unsubscribe(id) }
        }
    }

    /// The user's access token with at least `minimumRemaining` left, refreshing first when the
    /// stored one has less. When Forgejo is unavailable the stored token is returned as long as
    /// it has any time left, so an outage shorter than the headroom is invisible to users.
    /// Keep `minimumRemaining` well below Forgejo's token lifetime, or every call refreshes.
    public func validAccessToken(
        userID: Int64, minimumRemaining: Duration
    ) async throws(UpstreamTokenFailure) -> UpstreamAccessToken {
        let trigger = UpstreamRefreshTrigger.minimumRemaining(minimumRemaining.timeInterval)
        if inFlight[userID] == nil, let stored = try await refresher.load(userID: userID),
            trigger.isSatisfied(by: stored, now: clock.now(), policy: policy)
        {
            return stored.accessToken
        }
        return try usableToken(from: await runRefresh(userID: userID, trigger: trigger))
    }

    /// Rotates the user's token at Forgejo now (or joins the refresh already running). Pass the
    /// generation a caller found wanting (e.g. its child was rejected) so that a newer stored
    /// set is adopted instead of rotating again. Transient failures answer like
    /// `validAccessToken`: the stored token while it is still valid.
    @discardableResult
    public func refresh(userID: Int64, replacing generation: Int64? = nil) async throws(UpstreamTokenFailure) -> UpstreamAccessToken {
        try usableToken(from: await runRefresh(userID: userID, trigger: .replacing(generation: generation)))
    }

    /// Joins the user's running refresh or starts one. The refresh runs in its own task so that a
    /// caller going away cannot stop it between Forgejo's rotation and the store write.
    func runRefresh(userID: Int64, trigger: UpstreamRefreshTrigger) async -> UpstreamRefreshOutcome {
        if let running = inFlight[userID] { return await running.value }
        if let withheld = await withheldRefresh(userID: userID, trigger: trigger) { return withheld }
        // The check above awaited the store: another caller may have started one meanwhile.
        if let running = inFlight[userID] { return await running.value }
        let task = Task { await self.performRefresh(userID: userID, trigger: trigger) }
        inFlight[userID] = task
        return await task.value
    }

    /// A refresh that must not reach Forgejo now answers with the stored set instead (usable
    /// while it has time left): once shutdown began (a rotation Forgejo answers after the store
    /// closed would be lost), and within `minimumRefreshSpacing` of this process's last
    /// rotation of the user (whatever asks: a storm of new children or of rejected tokens costs
    /// Forgejo one refresh per spacing, and the scheduler is re-planned for the spacing's end).
    /// Nil when the refresh may go ahead.
    private func withheldRefresh(userID: Int64, trigger: UpstreamRefreshTrigger) async -> UpstreamRefreshOutcome? {
        guard shuttingDown || lastRotation[userID] != nil else { return nil }
        let stored: StoredUpstreamTokens?
        do {
            stored = try await refresher.load(userID: userID)
        } catch {
            return shuttingDown ? .transient(reason: "shutting_down", current: nil) : nil
        }
        if let stored, trigger.isSatisfied(by: stored, now: clock.now(), policy: policy) { return nil }
        if shuttingDown {
            logger.debug("upstream_refresh_withheld", metadata: ["user_id": "\(userID)", "reason": "shutting_down"])
            return .transient(reason: "shutting_down", current: stored)
        }
        guard let stored, let last = lastRotation[userID] else { return nil }
        let allowedFrom = last.addingTimeInterval(stored.thresholds.minimumRefreshSpacing)
        guard clock.now() < allowedFrom else { return nil }
        logger.debug("upstream_refresh_withheld", metadata: ["user_id": "\(userID)", "reason": "rate_limited"])
        reschedule(userID: userID, at: max(allowedFrom, stored.refreshDue(policy: policy)))
        return .transient(reason: "refresh_rate_limited", current: stored)
    }

    /// Graceful shutdown, first step: no refresh starts from now on.
    public func beginShutdown() {
        shuttingDown = true
    }

    /// Graceful shutdown, last step: waits for every running refresh, so that a rotation Forgejo
    /// has made is stored before the store closes (otherwise the stored refresh token is the
    /// rotated-away one and the user must sign in again). Each is bounded by the Forgejo
    /// client's request timeout; the service group's shutdown bound caps the whole.
    public func finishRefreshes() async {
        shuttingDown = true
        while let running = inFlight.values.first { _ = await running.value }
    }

    private func performRefresh(userID: Int64, trigger: UpstreamRefreshTrigger) async -> UpstreamRefreshOutcome {
        let started = ContinuousClock.now
        let outcome = await conclude(await refresher.refresh(userID: userID, trigger: trigger), userID: userID)
        UpstreamRefreshTelemetry.record(outcome, userID: userID, duration: ContinuousClock.now - started, logger: logger)
        inFlight[userID] = nil
        return outcome
    }

    /// Bookkeeping shared by every refresh, run once per refresh before any waiter resumes. A
    /// final verdict overtaken by a newer set (a login during the refresh) becomes an adoption.
    func conclude(_ outcome: UpstreamRefreshOutcome, userID: Int64) async -> UpstreamRefreshOutcome {
        switch outcome {
        case .refreshed(let stored), .adopted(let stored):
            transientFailures[userID] = nil
            if case .refreshed = outcome { lastRotation[userID] = clock.now() }
            if announced[userID] != stored.version {
                announced[userID] = stored.version
                hub.publish(.refreshed(userID: userID, token: stored.accessToken))
            }
            reschedule(userID: userID, at: stored.refreshDue(policy: policy))
            if case .refreshed = outcome, let changes {
                // Not awaited: the refresh's waiters must not wait on the notification's round trip.
                let change = StoreChange.upstreamTokensChanged(userID: userID, version: stored.version)
                Task { await changes.publish(change) }
            }
        case .unusable:
            // Nothing to retry until a login replaces the set (or an operator restores the key).
            reschedule(userID: userID, at: .distantFuture)
        case .transient, .misconfigured:
            let failures = (transientFailures[userID] ?? 0) + 1
            transientFailures[userID] = failures
            reschedule(userID: userID, at: clock.now().addingTimeInterval(policy.rescheduleDelay(afterFailures: failures).timeInterval))
        case .final(let reason, let version):
            if let newer = await forget(userID: userID, reason: reason, version: version) {
                return await conclude(.adopted(newer), userID: userID)
            }
        }
        return outcome
    }

    /// The user must log in again: drop the set, revoke every broker grant (so their clients get
    /// `invalid_grant` / 401 and start a new login), stop scheduling and tell listeners. Unless
    /// the set is no longer the `version` the verdict was about: then a login or another process
    /// wrote a newer one meanwhile, the user is fine, and that set is returned instead.
    private func forget(userID: Int64, reason: String, version: Int64?) async -> StoredUpstreamTokens? {
        do {
            if let version { _ = try await store.deleteUpstreamTokens(userID: userID, expectedVersion: version) }
            // Whatever is stored now was written after the verdict's version: a fresh login.
            if let newer = try await refresher.load(userID: userID) {
                logger.notice("upstream_grant_dead_superseded", metadata: [
                    "user_id": "\(userID)", "reason": .string(reason), "version": "\(newer.version)",
                ])
                return newer
            }
            let revoked = try await store.revokeGrants(userID: userID, now: clock.now())
            logger.notice("upstream_grant_dead", metadata: [
                "user_id": "\(userID)", "reason": .string(reason), "broker_grants_revoked": "\(revoked.count)",
            ])
        } catch {
            // The next refresh reaches the same verdict and tries again.
            logger.error("upstream_grant_dead_cleanup_failed", metadata: ["user_id": "\(userID)", "error": "\(error)"])
        }
        transientFailures[userID] = nil
        announced[userID] = nil
        lastRotation[userID] = nil
        reschedule(userID: userID, at: .distantFuture)
        hub.publish(.dead(userID: userID, reason: reason))
        return nil
    }

    private func usableToken(from outcome: UpstreamRefreshOutcome) throws(UpstreamTokenFailure) -> UpstreamAccessToken {
        switch outcome {
        case .refreshed(let stored), .adopted(let stored):
            return stored.accessToken
        case .transient(let reason, let current), .misconfigured(let reason, let current):
            guard let current, !current.isExpired(at: clock.now()) else { throw .unavailable(reason: reason) }
            return current.accessToken
        case .final(let reason, _), .unusable(let reason):
            throw .loginRequired(reason: reason)
        }
    }

    private func unsubscribe(_ id: Int) {
        hub.unsubscribe(id)
    }
}
