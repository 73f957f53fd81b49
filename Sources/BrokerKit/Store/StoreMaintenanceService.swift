import Foundation
import Logging
import ServiceLifecycle

/// Periodically deletes rows that can never be used again (expired codes, tokens, pending
/// requests, long-revoked grants, abandoned clients), keeping the database small and lookups
/// fast. Stops with graceful shutdown.
public struct StoreMaintenanceService: Service {
    let store: any BrokerStore
    let interval: Duration
    let refreshGrace: Duration
    let retention: Duration
    let grantlessClientLifetime: Duration
    /// The audit table and how long its records are kept; nil: not purged here.
    let audit: (store: any AuditStore, retention: Duration)?
    /// Replica mode's heartbeat rows and the lapse; nil: not purged here (replica mode off).
    let replicas: (store: any ReplicaStore, lapse: Duration)?
    let now: @Sendable () -> Date
    let logger: Logger

    /// Revoked grants are kept this long (30 days) so an operator looking into a complaint can
    /// still see them.
    public static let defaultRetention: Duration = .seconds(30 * 24 * 3600)

    /// A replica silent this long (or for its lapse, if longer) is deleted with its claims: until
    /// then `fjmcp-broker sessions` still shows when it was last heard of and what it held. Its
    /// claims stopped counting at its lapse (any replica may take them over), so deleting them
    /// later changes no placement. One that comes back writes its row again with its next beat,
    /// which returns no keys, so it ends the children it still ran (fencing).
    public static let replicaRetention: Duration = .seconds(3600)

    /// - Parameter grantlessClientLifetime: dynamically registered clients that obtained no grant
    ///   within this are deleted (anyone can register, so they must not pile up).
    public init(store: any BrokerStore, interval: Duration = .seconds(300), refreshGrace: Duration,
                retention: Duration = defaultRetention, grantlessClientLifetime: Duration = .seconds(24 * 3600),
                audit: (store: any AuditStore, retention: Duration)? = nil,
                replicas: (store: any ReplicaStore, lapse: Duration)? = nil,
                now: @escaping @Sendable () -> Date = Date.init, logger: Logger) {
        self.audit = audit
        self.replicas = replicas
        self.store = store
        self.interval = interval
        self.refreshGrace = refreshGrace
        self.retention = retention
        self.grantlessClientLifetime = grantlessClientLifetime
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
            let now = now()
            var counts = try await store.deleteExpired(
                now: now, refreshGrace: TimeInterval(refreshGrace.components.seconds),
                retention: TimeInterval(retention.components.seconds))
            counts.clients += try await store.deleteGrantlessClients(
                createdBefore: now.addingTimeInterval(-TimeInterval(grantlessClientLifetime.components.seconds)))
            var auditPurged = 0
            if let audit {
                auditPurged = try await audit.store.deleteAuditRecords(
                    before: now.addingTimeInterval(-TimeInterval(audit.retention.components.seconds)))
            }
            var replicasPurged = 0
            if let replicas {
                let silence = max(replicas.lapse, Self.replicaRetention)
                replicasPurged = try await replicas.store.purgeReplicas(
                    lapsedBefore: now.addingTimeInterval(-TimeInterval(silence.components.seconds)))
            }
            if counts.total > 0 || auditPurged > 0 || replicasPurged > 0 {
                logger.info("store cleanup", metadata: [
                    "pending": "\(counts.pendingAuthorizations)", "codes": "\(counts.authorizationCodes)",
                    "access_tokens": "\(counts.accessTokens)", "refresh_tokens": "\(counts.refreshTokens)",
                    "revoked_grants": "\(counts.grants)", "clients": "\(counts.clients)", "audit_records": "\(auditPurged)",
                    "replicas": "\(replicasPurged)",
                ])
            }
            return counts
        } catch {
            logger.error("store cleanup failed", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
