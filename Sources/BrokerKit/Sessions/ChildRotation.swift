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
    /// The running swap (with its retries) per hosted child; a newer token replaces it.
    private var swaps: [ChildKey: (generation: Int64, task: Task<Void, Never>)] = [:]

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
        for swap in swaps.values { swap.task.cancel() }
        swaps.removeAll()
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

    private func startSwap(_ id: ChildKey, generation: Int64) {
        if let running = swaps[id] {
            guard running.generation < generation else { return }
            running.task.cancel()
        }
        let task = Task { [host, options, logger, clock = manager.clock] in
            await Self.swapWithRetries(id, generation: generation, host: host, options: options, clock: clock, logger: logger)
            self.finished(id, generation: generation)
        }
        swaps[id] = (generation, task)
    }

    private func finished(_ id: ChildKey, generation: Int64) {
        if swaps[id]?.generation == generation { swaps[id] = nil }
    }

    /// Tries to give the session its new child until that works, the session ends, or a newer
    /// token takes over (cancellation). While the old child's token is valid a failure only
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
