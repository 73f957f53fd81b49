import Foundation
import Logging
import XCTest

@testable import BrokerKit

/// Replica mode's tables (``ReplicaStore``) on both engines: one holder per child key, a live
/// holder named to the claimant, take-over once the holder's beat lapsed or its row went, and
/// the beat telling each replica which keys it still holds.
extension StoreSuite {
    /// A replica of the suite's clock whose last beat was `beatAt` (seconds after `now`).
    func replica(_ id: String, beatAt offset: TimeInterval = 0) -> ReplicaRecord {
        ReplicaRecord(id: id, address: "http://\(id).replicas.internal:8080", startedAt: now, heartbeatAt: now + offset)
    }

    /// Claims `key` at `now + offset` with a lapse of 10 s.
    func claim(_ key: String, by replicaID: String, at offset: TimeInterval = 0) async throws -> ChildClaim {
        try await store.claimChild(key: key, replicaID: replicaID, now: now + offset, lapsedBefore: now + offset - 10)
    }

    func testAFreeKeyIsClaimedAndItsHolderMayClaimItAgain() async throws {
        _ = try await store.beat(replica("a"))
        let first = try await claim("session:s1", by: "a")
        XCTAssertEqual(first, .claimed)
        let again = try await claim("session:s1", by: "a", at: 5)
        XCTAssertEqual(again, .claimed, "its own key (a child restarted here)")
        let owners = try await store.childOwners()
        XCTAssertEqual(owners, [ChildOwnerRecord(key: "session:s1", replicaID: "a", claimedAt: now + 5)])
    }

    func testALiveHolderKeepsTheKeyAndIsNamedWithItsAddress() async throws {
        _ = try await store.beat(replica("a"))
        _ = try await store.beat(replica("b", beatAt: 3))
        _ = try await claim("user:7", by: "a")
        // a's beat at `now` is exactly at the lapse boundary seen at now + 10: still alive.
        let refused = try await claim("user:7", by: "b", at: 10)
        XCTAssertEqual(refused, .heldBy(replica("a")))
        let owners = try await store.childOwners()
        XCTAssertEqual(owners.map(\.replicaID), ["a"])
    }

    func testALapsedHoldersKeyIsTakenOverAndItsBeatNoLongerListsIt() async throws {
        _ = try await store.beat(replica("a"))
        _ = try await claim("session:s1", by: "a")
        _ = try await store.beat(replica("b", beatAt: 11))
        let takeOver = try await claim("session:s1", by: "b", at: 11)
        XCTAssertEqual(takeOver, .claimed, "a's last beat is 11 s old, the lapse 10 s")
        let owners = try await store.childOwners()
        XCTAssertEqual(owners, [ChildOwnerRecord(key: "session:s1", replicaID: "b", claimedAt: now + 11)])
        let aHolds = try await store.beat(replica("a", beatAt: 12))
        XCTAssertEqual(aHolds, [], "a comes back: its beat says the key is gone, so it ends its child")
        let back = try await claim("session:s1", by: "a", at: 12)
        XCTAssertEqual(back, .heldBy(replica("b", beatAt: 11)))
    }

    /// On PostgreSQL a claim reads `replicas` as of its statement's start: a replica whose first
    /// beat came after that looks lapsed (here: beat long ago), but its claim within the lapse
    /// still keeps its key.
    func testAClaimWithinTheLapseKeepsTheKeyWhateverTheHoldersBeat() async throws {
        _ = try await store.beat(replica("a"))
        _ = try await store.beat(replica("b", beatAt: 30))
        _ = try await claim("session:s1", by: "a", at: 25)
        let refused = try await claim("session:s1", by: "b", at: 30)
        XCTAssertEqual(refused, .heldBy(replica("a")), "a claimed 5 s ago; the lapse is 10 s")
        let takeOver = try await claim("session:s1", by: "b", at: 36)
        XCTAssertEqual(takeOver, .claimed, "a's claim and beat are both older than the lapse")
    }

    func testARemovedHoldersKeysAreFreeAtOnce() async throws {
        _ = try await store.beat(replica("a"))
        _ = try await store.beat(replica("b"))
        _ = try await claim("session:s1", by: "a")
        _ = try await claim("session:s2", by: "a")
        _ = try await claim("session:s3", by: "b")
        try await store.removeReplica(id: "a")
        let owners = try await store.childOwners()
        XCTAssertEqual(owners.map(\.key), ["session:s3"], "a's claims went with its row")
        let remaining = try await store.replicas()
        XCTAssertEqual(remaining.map(\.id), ["b"])
        let takeOver = try await claim("session:s1", by: "b", at: 1)
        XCTAssertEqual(takeOver, .claimed, "no lapse to wait for")
        try await store.removeReplica(id: "a") // already gone: a no-op
    }

    func testOnlyTheHolderReleasesAKey() async throws {
        _ = try await store.beat(replica("a"))
        _ = try await store.beat(replica("b"))
        _ = try await claim("user:7", by: "a")
        try await store.releaseChild(key: "user:7", replicaID: "b")
        let stillHeld = try await store.childOwners()
        XCTAssertEqual(stillHeld.map(\.replicaID), ["a"], "b's release of a key it does not hold is a no-op")
        try await store.releaseChild(key: "user:7", replicaID: "a")
        let released = try await store.childOwners()
        XCTAssertEqual(released, [])
        try await store.releaseChild(key: "user:7", replicaID: "a")
        let free = try await claim("user:7", by: "b")
        XCTAssertEqual(free, .claimed)
    }

    func testTheBeatRefreshesTheRowAndReturnsTheKeysHeld() async throws {
        let none = try await store.beat(replica("a"))
        XCTAssertEqual(none, [])
        _ = try await store.beat(replica("b", beatAt: 1))
        _ = try await claim("session:s1", by: "a")
        _ = try await claim("user:7", by: "a")
        _ = try await claim("session:s2", by: "b")
        var moved = replica("a", beatAt: 2)
        moved.address = "http://10.0.0.9:8080"
        moved.startedAt = now + 2
        let held = try await store.beat(moved)
        XCTAssertEqual(held, ["session:s1", "user:7"])
        let rows = try await store.replicas()
        XCTAssertEqual(rows, [ReplicaRecord(id: "a", address: "http://10.0.0.9:8080", startedAt: now, heartbeatAt: now + 2),
                              replica("b", beatAt: 1)], "newest beat first; a row keeps the start it was first written with")
    }

    func testAClaimByAReplicaThatNeverBeatIsRefused() async throws {
        _ = try await store.beat(replica("a"))
        _ = try await claim("session:s1", by: "a")
        // Even for a key whose holder lapsed: the claim must not reference a missing row.
        for (key, offset) in [("session:free", 0.0), ("session:s1", 20)] {
            do {
                _ = try await claim(key, by: "ghost", at: offset)
                XCTFail("\(key): a replica without a row cannot claim")
            } catch let error as ReplicaStoreError {
                XCTAssertEqual(error, .unknownReplica(id: "ghost"))
            }
        }
        let owners = try await store.childOwners()
        XCTAssertEqual(owners.map(\.replicaID), ["a"])
    }

    /// A replica killed without a clean stop leaves its row and claims; the purge takes both.
    func testPurgeDeletesLapsedReplicasWithTheirClaims() async throws {
        _ = try await store.beat(replica("gone"))
        _ = try await store.beat(replica("holding"))
        _ = try await store.beat(replica("alive", beatAt: 100))
        _ = try await claim("session:s1", by: "holding")
        _ = try await claim("user:7", by: "holding")
        _ = try await claim("session:s2", by: "alive", at: 100)
        let purged = try await store.purgeReplicas(lapsedBefore: now + 50)
        XCTAssertEqual(purged, 2)
        let rows = try await store.replicas()
        XCTAssertEqual(rows.map(\.id), ["alive"])
        let owners = try await store.childOwners()
        XCTAssertEqual(owners.map(\.key), ["session:s2"], "the purged replicas' claims went with their rows")
        let holds = try await store.beat(replica("holding", beatAt: 101))
        XCTAssertEqual(holds, [], "one that comes back is told it holds nothing, so it ends its children")
        let nothing = try await store.purgeReplicas(lapsedBefore: now + 100)
        XCTAssertEqual(nothing, 0, "a beat exactly at the cutoff is not before it")
    }

    /// The maintenance pass purges replicas silent for an hour, or for their lapse when longer,
    /// claims and all.
    func testMaintenancePurgesReplicasSilentForAnHourOrTheLapse() async throws {
        _ = try await store.beat(replica("old", beatAt: -3_601))
        _ = try await store.beat(replica("recent", beatAt: -3_599))
        _ = try await claim("session:s1", by: "old", at: -3_601)
        let now = self.now
        let hourly = StoreMaintenanceService(store: store, refreshGrace: .seconds(60), replicas: (store, .seconds(10)),
                                             now: { now }, logger: Logger(label: "test"))
        await hourly.runOnce()
        let afterHour = try await store.replicas()
        XCTAssertEqual(afterHour.map(\.id), ["recent"])
        let owners = try await store.childOwners()
        XCTAssertEqual(owners, [], "the claim of a replica silent for over an hour went with it")
        let longLapse = StoreMaintenanceService(store: store, refreshGrace: .seconds(60), replicas: (store, .seconds(7_200)),
                                                now: { now + 3_600 }, logger: Logger(label: "test"))
        await longLapse.runOnce()
        let withinLapse = try await store.replicas()
        XCTAssertEqual(withinLapse.map(\.id), ["recent"], "silent for two hours less a second, within its lapse")
    }

    /// Replicas meeting one lapsed holder (and one free key) at once: exactly one wins each key,
    /// and every other is told that winner.
    func testConcurrentClaimsOfOneKeyHaveExactlyOneWinner() async throws {
        try await assertOneWinnerPerKey(claimingThrough: [store])
    }

    /// Six replicas claim ten keys (five held by a lapsed replica), each replica through
    /// `stores[i % stores.count]` (on PostgreSQL: several pools, as several processes have).
    func assertOneWinnerPerKey(claimingThrough stores: [any ReplicaStore], file: StaticString = #filePath, line: UInt = #line) async throws {
        let claimants = (0..<6).map { "r\($0)" }
        _ = try await store.beat(replica("dead"))
        for id in claimants { _ = try await store.beat(replica(id, beatAt: 30)) }
        let keys = (0..<10).map { "session:k\($0)" }
        for key in keys.prefix(5) { _ = try await claim(key, by: "dead") }
        let now = self.now
        let outcomes = try await withThrowingTaskGroup(of: (String, String, ChildClaim).self) { group in
            for key in keys {
                for (index, id) in claimants.enumerated() {
                    let through = stores[index % stores.count]
                    group.addTask {
                        (key, id, try await through.claimChild(key: key, replicaID: id, now: now + 30, lapsedBefore: now + 20))
                    }
                }
            }
            return try await group.reduce(into: [String: [(String, ChildClaim)]]()) { $0[$1.0, default: []].append(($1.1, $1.2)) }
        }
        let owners = Dictionary(uniqueKeysWithValues: try await store.childOwners().map { ($0.key, $0.replicaID) })
        for key in keys {
            let results = try XCTUnwrap(outcomes[key], file: file, line: line)
            let winners = results.filter { $0.1 == .claimed }.map(\.0)
            XCTAssertEqual(winners.count, 1, "\(key): \(results)", file: file, line: line)
            XCTAssertEqual(owners[key], winners.first, key, file: file, line: line)
            for (id, outcome) in results where outcome != .claimed {
                XCTAssertEqual(outcome, .heldBy(replica(try XCTUnwrap(winners.first), beatAt: 30)), "\(key), \(id)", file: file, line: line)
            }
        }
    }
}
