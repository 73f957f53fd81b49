import Foundation
import Logging
import ServiceLifecycle

/// Acts on the token manager's events for hosted children (design §4 "Token rotation of
/// children"): a refreshed token gives each of the user's children (sessions and user child
/// alike) a new process before the old token expires, because a forgejo-mcp child reads its
/// token only once (forgejo-notes D5); a dead Forgejo grant ends everything of the user and drops
/// their bearer tokens, so the next `/mcp` request answers 401 and the client signs in again.
public actor ChildRotation: Service {
    public struct Options: Sendable {
        /// First wait after a failed swap; doubled per failure up to `maximumRetryDelay`.
        public var retryBaseDelay: Duration = .milliseconds(500)
        public var maximumRetryDelay: Duration = .seconds(30)

        public init() {}
    }

    private let manager: UpstreamTokenManager
    private let host: ChildHost
    private let bearer: BearerAuthenticator
    private let options: Options
    private let logger: Logger
    /// Which swap runs per hosted child and which follows it.
    private var schedule = SwapSchedule()
    /// The running swap (with its retries) per hosted child. Only shutdown cancels one.
    private var swaps: [ChildKey: Task<Void, Never>] = [:]

    public init(manager: UpstreamTokenManager, host: ChildHost, bearer: BearerAuthenticator, options: Options = Options(),
                logger: Logger) {
        self.manager = manager
        self.host = host
        self.bearer = bearer
        self.options = options
        self.logger = logger
    }

    public func run() async throws {
        let events = await manager.events()
        let stale = host.staleChildren
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { for await event in events { await self.handle(event) } }
                group.addTask { for await child in stale { await self.startSwap(child.key, generation: child.generation) } }
            }
        }
        for swap in swaps.values { swap.cancel() }
        swaps.removeAll()
        schedule = SwapSchedule()
    }

    private func handle(_ event: UpstreamTokenEvent) async {
        switch event {
        case .refreshed(let userID, let token):
            for key in await host.childrenToSwap(userID: userID, generation: token.generation) {
                startSwap(key, generation: token.generation)
            }
        case .dead(let userID, let reason):
            await host.endUser(userID, reason: .upstreamGrantDead)
            do {
                try await bearer.revokeUser(userID: userID)
            } catch {
                // The manager revoked the grants in the store already; only the cache may lag.
                logger.error("bearer revocation failed", metadata: ["user_id": "\(userID)", "error": "\(error)"])
            }
            logger.notice("sessions ended: Forgejo authorization gone", metadata: ["user_id": "\(userID)", "reason": .string(reason)])
        }
    }

    /// Starts a swap to `generation`, unless one is running: a newer generation never cancels a
    /// swap already starting (cancelling it mid-spawn wasted the child, and with short token
    /// lifetimes every swap was cancelled by the next refresh, so none ever completed); it is
    /// queued as the one follow-up, run when the current swap ends.
    private func startSwap(_ id: ChildKey, generation: Int64) {
        guard schedule.request(id, generation: generation) else { return }
        launch(id, generation: generation)
    }

    private func launch(_ id: ChildKey, generation: Int64) {
        swaps[id] = Task { [host, options, logger, clock = manager.clock] in
            await Self.swapWithRetries(id, generation: generation, host: host, options: options, clock: clock, logger: logger)
            self.finished(id)
        }
    }

    /// The running swap ended: the follow-up, if one was asked for meanwhile, starts now. It is
    /// cheap when the finished swap's child already got that generation (`notNeeded`).
    private func finished(_ id: ChildKey) {
        swaps[id] = nil
        if let next = schedule.finish(id) { launch(id, generation: next) }
    }

    /// Tries to give the session its new child until that works, the session ends, or the
    /// broker shuts down (cancellation). While the old child's token is valid a failure only
    /// means "try again later": the old child keeps serving. Once that token has expired the old
    /// child can no longer reach Forgejo, so a session that still cannot get a new child is
    /// ended: the client's next request gets 404 and it re-initializes, which either starts a
    /// child with the fresh token or reports clearly why it cannot.
    private static func swapWithRetries(_ id: ChildKey, generation: Int64, host: ChildHost, options: Options,
                                        clock: any UpstreamClock, logger: Logger) async {
        var failures = 0
        while !Task.isCancelled {
            guard case .failed(let expiresAt) = await host.replaceChild(id, generation: generation, drain: host.limits.drain)
            else { return }
            failures += 1
            if let expiresAt, clock.now() >= expiresAt {
                guard !Task.isCancelled else { return }
                logger.error("child swap abandoned: the old child's token has expired; ending it", metadata: [
                    "child": "\(id)", "failures": "\(failures)",
                ])
                await host.end(id, reason: .upstreamTokenExpired)
                return
            }
            await waitBeforeRetry(retryDelay(afterFailures: failures, options: options), orUntil: expiresAt, clock: clock)
        }
    }

    /// Sleeps for the back-off, but no later than the old token's expiry (on the token clock),
    /// so a session is never left running an expired child for a whole back-off period.
    private static func waitBeforeRetry(_ delay: Duration, orUntil expiry: Date?, clock: any UpstreamClock) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: delay) }
            if let expiry { group.addTask { try? await clock.sleep(until: expiry) } }
            await group.next()
            group.cancelAll()
        }
    }

    static func retryDelay(afterFailures failures: Int, options: Options) -> Duration {
        let factor = 1 << min(failures - 1, 16)
        return min(options.retryBaseDelay * factor, options.maximumRetryDelay)
    }
}

/// Per hosted child, at most one swap runs and at most one follows it: a token generation
/// announced while a swap is under way waits for that swap to end (the swap completes, then one
/// more runs if the child still needs it), and several announced meanwhile coalesce into the
/// newest. Kept apart from `ChildRotation`'s tasks so the rule is tested on its own.
struct SwapSchedule: Sendable {
    private struct Slot {
        var running: Int64
        var followUp: Int64?
    }

    private var slots: [ChildKey: Slot] = [:]

    /// True when a swap to `generation` should start now (none is running). Otherwise a newer
    /// generation becomes the follow-up (replacing an older one); an older or equal one is
    /// dropped, as the running swap covers it.
    mutating func request(_ key: ChildKey, generation: Int64) -> Bool {
        guard var slot = slots[key] else {
            slots[key] = Slot(running: generation)
            return true
        }
        if generation > max(slot.running, slot.followUp ?? slot.running) {
            slot.followUp = generation
            slots[key] = slot
        }
        return false
    }

    /// The running swap of `key` ended; returns the follow-up generation to start now, which
    /// becomes the running one, or nil when there is none.
    mutating func finish(_ key: ChildKey) -> Int64? {
        guard let next = slots[key]?.followUp else {
            slots[key] = nil
            return nil
        }
        slots[key] = Slot(running: next)
        return next
    }

    /// The generation being swapped to for `key`, and the one queued after it.
    func state(of key: ChildKey) -> (running: Int64, followUp: Int64?)? {
        slots[key].map { ($0.running, $0.followUp) }
    }
}
