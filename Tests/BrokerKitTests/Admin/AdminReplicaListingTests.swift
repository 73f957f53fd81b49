@testable import BrokerKit
import Foundation
import XCTest

/// `fjmcp-broker sessions` in replica mode: each local child joined with the replica holding
/// its key, every replica with its beat and claim count, and the JSON the admin socket carries.
final class AdminReplicaListingTests: XCTestCase {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    private func summary(_ kind: String, session: String = "-", userID: Int64) -> ChildSummary {
        ChildSummary(kind: kind, sessionID: session, user: "alice", userID: userID, clients: ["c1"], ageSeconds: 5, idleSeconds: 1,
                     busy: 0, childPID: 42, tokenExpiresAt: nil)
    }

    private var replicas: [ReplicaRecord] {
        [ReplicaRecord(id: "me", address: "http://10.0.0.5:8080", startedAt: now - 60, heartbeatAt: now - 1),
         ReplicaRecord(id: "other", address: "http://10.0.0.6:8080", startedAt: now - 600, heartbeatAt: now - 12)]
    }

    private func listing() -> AdminReplicaListing {
        let owners = [
            ChildOwnerRecord(key: "session:" + TokenHasher.hash("sid-1"), replicaID: "me", claimedAt: now),
            ChildOwnerRecord(key: "user:7", replicaID: "other", claimedAt: now),
            ChildOwnerRecord(key: "user:8", replicaID: "other", claimedAt: now),
            ChildOwnerRecord(key: "user:9", replicaID: "gone", claimedAt: now),
        ]
        let summaries = [summary("session", session: "sid-1", userID: 7), summary("user", userID: 7),
                         summary("session", session: "sid-2", userID: 7), summary("user", userID: 9)]
        return AdminReplicaListing(summaries: summaries, owners: owners, replicas: replicas, selfID: "me")
    }

    func testEachChildIsJoinedWithTheReplicaHoldingItsKey() {
        let children = listing().children
        XCTAssertEqual(children.map(\.replicaID), ["me", "other", nil, "gone"])
        XCTAssertEqual(children.map(\.replicaAddress), ["http://10.0.0.5:8080", "http://10.0.0.6:8080", nil, nil],
                       "a session's key is its id's hash; no claim shows none; a holder without a row has no address")
    }

    func testReplicasAreListedWithTheirBeatAgeClaimsAndWhichAnswered() {
        let listed = listing()
        XCTAssertEqual(listed.replicas.map(\.children), [1, 2])
        XCTAssertEqual(listed.replicaRows(now: now), [
            ["me (this)", "http://10.0.0.5:8080", (now - 60).ISO8601Format(), (now - 1).ISO8601Format(), "1s", "1"],
            ["other", "http://10.0.0.6:8080", (now - 600).ISO8601Format(), (now - 12).ISO8601Format(), "12s", "2"],
        ])
        XCTAssertEqual(listed.replicaRows(now: now - 5).last?[4], "7s")
        XCTAssertEqual(listed.replicaRows(now: now - 30).first?[4], "0s", "a beat stamped by a clock ahead of the reader's")
        XCTAssertEqual(listed.replicaRows(now: now).map(\.count), [AdminReplicaListing.replicaHeader.count, AdminReplicaListing.replicaHeader.count])
    }

    func testTheListingCrossesTheAdminSocketAsJSON() throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let listed = listing()
        XCTAssertEqual(try decoder.decode(AdminReplicaListing.self, from: encoder.encode(listed)), listed)
        let text = String(decoding: try encoder.encode(listed), as: UTF8.self)
        XCTAssertTrue(text.contains("\"replica_id\":\"me\""), text)
        XCTAssertTrue(text.contains("\"self\":true"), text)
    }
}
