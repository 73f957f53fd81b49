import Foundation
import Synchronization

@testable import BrokerKit

/// The replica store's rules (one holder per key, take-over only after the holder's lapse, a
/// beat returns the beater's keys) on dictionaries, for ChildHost tests without a database. It
/// counts claims and releases, and can be made to fail like a store that cannot be reached, or
/// to hang like one behind a dead connection.
actor InMemoryReplicaStore: ReplicaStore {
    struct Unreachable: Error {}

    private var rows: [String: ReplicaRecord] = [:]
    private var owners: [String: ChildOwnerRecord] = [:]
    private(set) var claims = 0
    private(set) var releases = 0
    /// Every call throws while set.
    var failing = false
    enum Call: Hashable { case beat, claim }
    /// These calls wait while set (ignoring cancellation, as one on a blackholed connection does).
    private var hanging: Set<Call> = []
    private var hung: [CheckedContinuation<Void, Never>] = []
    /// Calls waiting right now.
    var hungCalls: Int { hung.count }
    /// Runs inside each release, before the key is given back: what was true at that moment.
    private var beforeRelease: (@Sendable (String) async -> Void)?

    func setFailing(_ failing: Bool) {
        self.failing = failing
    }

    /// Hangs every `call` from now on, or lets all hung calls (and later ones) through.
    func setHanging(_ call: Call, _ hanging: Bool) {
        if hanging {
            self.hanging.insert(call)
            return
        }
        self.hanging.remove(call)
        for waiting in hung { waiting.resume() }
        hung = []
    }

    private func hangIfSet(_ call: Call) async {
        if hanging.contains(call) { await withCheckedContinuation { hung.append($0) } }
    }

    func setBeforeRelease(_ action: (@Sendable (_ key: String) async -> Void)?) {
        beforeRelease = action
    }

    /// Gives `key` to `replicaID` as a take-over by another replica would.
    func assign(_ key: String, to replicaID: String, at now: Date) {
        owners[key] = ChildOwnerRecord(key: key, replicaID: replicaID, claimedAt: now)
    }

    func holder(of key: String) -> String? {
        owners[key]?.replicaID
    }

    func beat(_ replica: ReplicaRecord) async throws -> Set<String> {
        await hangIfSet(.beat)
        guard !failing else { throw Unreachable() }
        rows[replica.id] = replica
        return Set(owners.values.filter { $0.replicaID == replica.id }.map(\.key))
    }

    func claimChild(key: String, replicaID: String, now: Date, lapsedBefore: Date) async throws -> ChildClaim {
        await hangIfSet(.claim)
        guard !failing else { throw Unreachable() }
        claims += 1
        if let owner = owners[key], owner.replicaID != replicaID, let holder = rows[owner.replicaID], holder.heartbeatAt >= lapsedBefore {
            return .heldBy(holder)
        }
        owners[key] = ChildOwnerRecord(key: key, replicaID: replicaID, claimedAt: now)
        return .claimed
    }

    func releaseChild(key: String, replicaID: String) async throws {
        guard !failing else { throw Unreachable() }
        await beforeRelease?(key)
        releases += 1
        if owners[key]?.replicaID == replicaID { owners[key] = nil }
    }

    func removeReplica(id: String) async throws {
        guard !failing else { throw Unreachable() }
        rows[id] = nil
        owners = owners.filter { $0.value.replicaID != id }
    }

    func replicas() async throws -> [ReplicaRecord] {
        guard !failing else { throw Unreachable() }
        return rows.values.sorted { $0.heartbeatAt > $1.heartbeatAt }
    }

    func childOwners() async throws -> [ChildOwnerRecord] {
        guard !failing else { throw Unreachable() }
        return owners.values.sorted { $0.key < $1.key }
    }

    func purgeReplicas(lapsedBefore before: Date) async throws -> Int {
        guard !failing else { throw Unreachable() }
        let purged = Set(rows.values.filter { $0.heartbeatAt < before }.map(\.id))
        rows = rows.filter { !purged.contains($0.key) }
        owners = owners.filter { !purged.contains($0.value.replicaID) }
        return purged.count
    }
}

/// Wall-clock time a test moves forward by hand (a lapse passes without waiting for it).
final class TestWallClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))

    var now: Date { current.withLock { $0 } }

    func advance(by duration: Duration) {
        current.withLock { $0 = $0.addingTimeInterval(duration.seconds) }
    }
}
