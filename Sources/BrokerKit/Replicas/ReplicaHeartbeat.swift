import Logging
import ServiceLifecycle

/// Keeps this replica alive in the others' eyes (replica mode): a beat at once, then one every
/// `interval`. Each beat also says which child keys the store gives this replica; a local child
/// whose key is missing was taken over by another replica and ends here (fencing). When no beat
/// reached the store for longer than the lapse, every local child ends: the others may have
/// taken any of them over. At a clean stop the replica's row and claims go once its children
/// have stopped, so the others resume its sessions at once.
///
/// Listed before the `ChildHost` among the broker's services: it starts first and stops after it.
public struct ReplicaHeartbeat: Service {
    let placement: ChildPlacement
    let host: ChildHost
    let interval: Duration
    let logger: Logger

    public init(placement: ChildPlacement, host: ChildHost, interval: Duration, logger: Logger) {
        self.placement = placement
        self.host = host
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var failures = 0
            while !Task.isCancelled {
                failures = await beat(after: failures)
                try await Task.sleep(for: interval)
            }
        }
        // Removing the row lets the others start this replica's children: never while one runs.
        await host.shutdown()
        await placement.leave()
    }

    /// One beat; returns the consecutive failures after it.
    func beat(after failures: Int) async -> Int {
        do {
            let beat = try await placement.beat()
            if failures > 0 { logger.notice("replica heartbeat written again", metadata: ["failures": "\(failures)"]) }
            await host.fence(held: beat.held, beatIssuedAt: beat.issuedAt)
            return 0
        } catch {
            if failures == 0 {
                logger.warning("replica heartbeat not written", metadata: ["replica_id": "\(placement.identity.id)", "error": "\(error)"])
            }
            if !placement.isAlive { await host.endAllTakenOver() }
            return failures + 1
        }
    }
}
