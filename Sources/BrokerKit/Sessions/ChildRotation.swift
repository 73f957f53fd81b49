import Foundation
import Logging
import ServiceLifecycle

/// Acts on the token manager's events for live sessions (design §4 "Token rotation of
/// children"): a refreshed token gives each of the user's sessions a new child before the old
/// token expires, because a forgejo-mcp child reads its token only once (forgejo-notes D5); a
/// dead Forgejo grant ends the user's sessions and drops their bearer tokens, so the next
/// `/mcp` request answers 401 and the client signs in again.
public actor ChildRotation: Service {
    public struct Options: Sendable {
        /// How long a replaced child may keep answering the requests it took before the swap.
        public var drain: Duration = .seconds(30)
        /// First wait after a failed swap; doubled per failure up to `maximumRetryDelay`.
        public var retryBaseDelay: Duration = .milliseconds(500)
        public var maximumRetryDelay: Duration = .seconds(30)

        public init() {}
    }

    private let manager: UpstreamTokenManager
    private let registry: SessionRegistry
    private let bearer: BearerAuthenticator
    private let options: Options
    private let logger: Logger
    /// The running swap (with its retries) per session; a newer token replaces it.
    private var swaps: [String: (generation: Int64, task: Task<Void, Never>)] = [:]

    public init(manager: UpstreamTokenManager, registry: SessionRegistry, bearer: BearerAuthenticator, options: Options = Options(),
                logger: Logger) {
        self.manager = manager
        self.registry = registry
        self.bearer = bearer
        self.options = options
        self.logger = logger
    }

    public func run() async throws {
        let events = await manager.events()
        let stale = registry.staleSessions
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { for await event in events { await self.handle(event) } }
                group.addTask { for await session in stale { await self.startSwap(sessionID: session.sessionID, generation: session.generation) } }
            }
        }
        for swap in swaps.values { swap.task.cancel() }
        swaps.removeAll()
    }

    private func handle(_ event: UpstreamTokenEvent) async {
        switch event {
        case .refreshed(let userID, let token):
            for id in await registry.sessionsToSwap(userID: userID, generation: token.generation) {
                startSwap(sessionID: id, generation: token.generation)
            }
        case .dead(let userID, let reason):
            await registry.endSessions(userID: userID, reason: .upstreamGrantDead)
            do {
                try await bearer.revokeUser(userID: userID)
            } catch {
                // The manager revoked the grants in the store already; only the cache may lag.
                logger.error("bearer revocation failed", metadata: ["user_id": "\(userID)", "error": "\(error)"])
            }
            logger.notice("sessions ended: Forgejo authorization gone", metadata: ["user_id": "\(userID)", "reason": .string(reason)])
        }
    }

    private func startSwap(sessionID id: String, generation: Int64) {
        if let running = swaps[id] {
            guard running.generation < generation else { return }
            running.task.cancel()
        }
        let task = Task { [registry, options, logger, clock = manager.clock] in
            await Self.swapWithRetries(sessionID: id, generation: generation, registry: registry, options: options, clock: clock,
                                       logger: logger)
            self.finished(sessionID: id, generation: generation)
        }
        swaps[id] = (generation, task)
    }

    private func finished(sessionID id: String, generation: Int64) {
        if swaps[id]?.generation == generation { swaps[id] = nil }
    }

    /// Tries to give the session its new child until that works, the session ends, or a newer
    /// token takes over (cancellation). While the old child's token is valid a failure only
    /// means "try again later": the old child keeps serving. Once that token has expired the old
    /// child can no longer reach Forgejo, so a session that still cannot get a new child is
    /// ended: the client's next request gets 404 and it re-initializes, which either starts a
    /// child with the fresh token or reports clearly why it cannot.
    private static func swapWithRetries(sessionID id: String, generation: Int64, registry: SessionRegistry, options: Options,
                                        clock: any UpstreamClock, logger: Logger) async {
        var failures = 0
        while !Task.isCancelled {
            guard case .failed(let expiresAt) = await registry.replaceChild(sessionID: id, generation: generation, drain: options.drain)
            else { return }
            failures += 1
            if let expiresAt, clock.now() >= expiresAt {
                guard !Task.isCancelled else { return }
                logger.error("child swap abandoned: the old child's token has expired; ending the session", metadata: [
                    "session_id": "\(id)", "failures": "\(failures)",
                ])
                await registry.end(id, reason: .upstreamTokenExpired)
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
