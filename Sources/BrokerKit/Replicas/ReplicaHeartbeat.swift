import Logging
import ServiceLifecycle

/// Keeps this replica alive in the others' eyes (replica mode): a beat at once, then one every
/// `placement.heartbeat`. Each beat also says which child keys the store gives this replica; a
/// local child whose key is missing was taken over by another replica and ends here (fencing).
/// A watchdog beside the beats ends every local child once the last beat the store took is
/// `placement.fenceAge` old, strictly before the others may take any over, whether or not a
/// beat is still on its way (each is bounded by `placement.beatTimeout` as well). At a clean
/// stop the replica's row and claims go once its children have stopped, so the others resume
/// its sessions at once. A replica that finds an older live one at its own address stops the
/// same way and throws ``ReplicaAddressTaken`` (the broker exits with it).
///
/// Listed before the `ChildHost` among the broker's services: it starts first and stops after it.
public struct ReplicaHeartbeat: Service {
    let placement: ChildPlacement
    let host: ChildHost
    let logger: Logger

    public init(placement: ChildPlacement, host: ChildHost, logger: Logger) {
        self.placement = placement
        self.host = host
        self.logger = logger
    }

    public func run() async throws {
        var taken: ReplicaAddressTaken?
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await beats() }
                    group.addTask { try await watchdog() }
                    // Both run until cancelled, or until the beats find the address taken.
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch let error as ReplicaAddressTaken {
            logger.critical("replica address taken by another live replica; stopping", metadata: [
                "address": "\(error.address)", "replica_id": "\(placement.identity.id)", "other_replica_id": "\(error.other.id)",
            ])
            taken = error
        } catch {}
        // Removing the row lets the others start this replica's children: never while one runs.
        await host.shutdown()
        await placement.leave()
        if let taken { throw taken }
    }

    private func beats() async throws {
        var failures = 0
        var watch = ReplicaAddressWatch(identity: placement.identity)
        while !Task.isCancelled {
            failures = await beat(after: failures)
            if failures == 0 { try await checkAddress(&watch) }
            try await Task.sleep(for: placement.heartbeat)
        }
    }

    /// Throws ``ReplicaAddressTaken`` when an older live replica beats under this one's address.
    /// Looked at after every beat the store took, not only at the start: the other one's beats
    /// may have been failing then. A store that cannot answer is asked again at the next beat.
    func checkAddress(_ watch: inout ReplicaAddressWatch) async throws(ReplicaAddressTaken) {
        guard let rows = try? await placement.store.replicas() else { return }
        switch watch.observe(rows) {
        case .none:
            break
        case .taken(let other):
            throw ReplicaAddressTaken(address: placement.identity.address, other: other)
        case .sharedWithLater(let other):
            // This one may be the misconfigured one: the later one stops, and hops meant for this
            // one's children go on reaching whatever answers at the address.
            logger.error("another replica started with this replica's FJMCP_REPLICA_URL; it stops, this one serves on", metadata: [
                "address": "\(placement.identity.address)", "replica_id": "\(placement.identity.id)", "other_replica_id": "\(other.id)",
            ])
        }
    }

    /// Looks every quarter heartbeat: `fenceAge` is set a heartbeat before the lapse for this.
    private func watchdog() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: placement.heartbeat / 4)
            await fenceIfStale()
        }
    }

    /// Ends every local child once this replica is no longer serving (its last beat is
    /// `fenceAge` old): another replica may take any of them over at the lapse.
    func fenceIfStale() async {
        if !placement.isServing { await host.endAllTakenOver() }
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
            await fenceIfStale()
            return failures + 1
        }
    }
}
