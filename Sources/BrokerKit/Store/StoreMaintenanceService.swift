import Foundation
import Logging
import ServiceLifecycle

/// Periodically deletes rows that can never be used again (expired codes, tokens, pending
/// requests), keeping the database small and lookups fast. Stops with graceful shutdown.
public struct StoreMaintenanceService: Service {
    let store: any BrokerStore
    let interval: Duration
    let refreshGrace: Duration
    let now: @Sendable () -> Date
    let logger: Logger

    public init(store: any BrokerStore, interval: Duration = .seconds(300), refreshGrace: Duration,
                now: @escaping @Sendable () -> Date = Date.init, logger: Logger) {
        self.store = store
        self.interval = interval
        self.refreshGrace = refreshGrace
        self.now = now
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await runOnce()
            do {
                try await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }

    /// One pass; failures are logged and retried at the next interval rather than stopping the broker.
    @discardableResult
    public func runOnce() async -> CleanupCounts? {
        do {
            let counts = try await store.deleteExpired(now: now(), refreshGrace: TimeInterval(refreshGrace.components.seconds))
            if counts.total > 0 {
                logger.info("store cleanup", metadata: [
                    "pending": "\(counts.pendingAuthorizations)", "codes": "\(counts.authorizationCodes)",
                    "access_tokens": "\(counts.accessTokens)", "refresh_tokens": "\(counts.refreshTokens)",
                ])
            }
            return counts
        } catch {
            logger.error("store cleanup failed", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
