@testable import BrokerKit
import Foundation
import XCTest

/// `fjmcp-broker sessions` in replica mode: every live session record and every claimed user
/// child joined with the replica holding its key (local children in full, the others from the
/// store), every replica with its beat and claim count, and the JSON the admin socket carries.
final class AdminReplicaListingTests: XCTestCase {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    private func summary(_ kind: String, session: String = "-", userID: Int64) -> ChildSummary {
        ChildSummary(kind: kind, sessionID: session, user: "alice", userID: userID, clients: ["c1"], ageSeconds: 5, idleSeconds: 1,
                     busy: 0, childPID: 42, tokenExpiresAt: nil)
    }

    private func record(_ sessionID: String, userID: Int64, openedAgo age: TimeInterval) -> SessionRecord {
        SessionRecord(idHash: TokenHasher.hash(sessionID), userID: userID, clientID: "c\(userID)", grantID: "g", protocolVersion: "2025-06-18",
                      initialize: [], createdAt: now - age)
    }

    private var replicas: [ReplicaRecord] {
        [ReplicaRecord(id: "me", address: "http://10.0.0.5:8080", startedAt: now - 60, heartbeatAt: now - 1),
         ReplicaRecord(id: "other", address: "http://10.0.0.6:8080", startedAt: now - 600, heartbeatAt: now - 12)]
    }

    /// Sessions sid-1 (here), sid-3 (on other), sid-4 (no child anywhere); sid-2 runs here with no
    /// record left; user 7's child runs here, user 8's on other, user 9's on a replica whose row went.
    private func listing() -> AdminReplicaListing {
        let owners = [
            ChildOwnerRecord(key: "session:" + TokenHasher.hash("sid-1"), replicaID: "me", claimedAt: now),
            ChildOwnerRecord(key: "session:" + TokenHasher.hash("sid-3"), replicaID: "other", claimedAt: now - 30),
            ChildOwnerRecord(key: "user:7", replicaID: "me", claimedAt: now - 3),
            ChildOwnerRecord(key: "user:8", replicaID: "other", claimedAt: now - 20),
            ChildOwnerRecord(key: "user:9", replicaID: "gone", claimedAt: now - 90),
        ]
        let summaries = [summary("session", session: "sid-1", userID: 7), summary("user", userID: 7),
                         summary("session", session: "sid-2", userID: 7)]
        let sessions = [record("sid-1", userID: 7, openedAgo: 100), record("sid-3", userID: 8, openedAgo: 50),
                        record("sid-4", userID: 10, openedAgo: 40)]
        return AdminReplicaListing(summaries: summaries, sessions: sessions, logins: [7: "alice", 8: "bob", 9: "carol"], owners: owners,
                                   replicas: replicas, selfID: "me", now: now)
    }

    func testEverySessionAndUserChildIsListedWithTheReplicaHoldingIt() {
        let children = listing().children
        XCTAssertEqual(children.map(\.kind), ["session", "session", "session", "user", "user", "user", "session"])
        XCTAssertEqual(children.map(\.user), ["alice", "bob", "#10", "alice", "bob", "carol", "alice"],
                       "a user the listing has no login for is shown by id")
        XCTAssertEqual(children.map(\.replicaID), ["me", "other", nil, "me", "other", "gone", nil])
        XCTAssertEqual(children.map(\.replicaAddress), ["http://10.0.0.5:8080", "http://10.0.0.6:8080", nil, "http://10.0.0.5:8080",
                                                        "http://10.0.0.6:8080", nil, nil],
                       "no claim shows none; a holder without a row has no address")
        XCTAssertEqual(children.map { $0.local != nil }, [true, false, false, true, false, false, true],
                       "the children running here are matched by their key (a session's is its id's hash)")
        XCTAssertEqual(children.map(\.ageSeconds), [5, 50, 40, 5, 20, 90, 5],
                       "a local child's own age; elsewhere a session's since it opened, a user child's since its claim")
    }

    func testChildRowsShowWhatOnlyTheReplicaRunningAChildKnowsAsDashes() {
        let rows = listing().childRows
        XCTAssertEqual(rows[0], summary("session", session: "sid-1", userID: 7).tableRow + ["me", "http://10.0.0.5:8080"])
        XCTAssertEqual(rows[1], ["session", "bob", "c8", "50s", "-", "-", "-", "-", "other", "http://10.0.0.6:8080"])
        XCTAssertEqual(rows[2], ["session", "#10", "c10", "40s", "-", "-", "-", "-", "-", "-"])
        XCTAssertEqual(rows[4], ["user", "bob", "-", "20s", "-", "-", "-", "-", "other", "http://10.0.0.6:8080"])
        XCTAssertEqual(Set(rows.map(\.count)), [AdminReplicaListing.childHeader.count])
    }

    func testReplicasAreListedWithTheirBeatAgeClaimsAndWhichAnswered() {
        let listed = listing()
        XCTAssertEqual(listed.replicas.map(\.children), [2, 2])
        XCTAssertEqual(listed.replicaRows(now: now), [
            ["me (this)", "http://10.0.0.5:8080", (now - 60).ISO8601Format(), (now - 1).ISO8601Format(), "1s", "2"],
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
        XCTAssertTrue(text.contains("\"replica_id\":\"other\""), text)
        XCTAssertTrue(text.contains("\"self\":true"), text)
    }
}
