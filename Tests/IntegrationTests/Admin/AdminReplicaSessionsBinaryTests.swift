import Foundation
import XCTest

/// `fjmcp-broker sessions` against replicas on one PostgreSQL database: whichever replica is
/// asked lists every replica's sessions, each naming the replica holding its child, and every
/// replica with its beat, the one asked marked.
final class AdminReplicaSessionsBinaryTests: PostgresReplicaTestCase {

    /// The rows of a `sessions` listing's two tables, split into words.
    private func tables(_ listing: String) -> (children: [[String]], replicas: [[String]]) {
        let parts = listing.components(separatedBy: "\n\n")
        func rows(_ text: String) -> [[String]] {
            text.split(separator: "\n").map { $0.split(whereSeparator: \.isWhitespace).map(String.init) }
        }
        return (rows(parts.first ?? ""), parts.count > 1 ? rows(parts[1]) : [])
    }

    func testSessionsListsEveryReplicasSessionsWithTheReplicaHoldingEachAndListsTheReplicas() async throws {
        let brokers = try await startReplicas(2, settings: ["FJMCP_REPLICA_HEARTBEAT": "200ms", "FJMCP_REPLICA_LAPSE": "2s"])
        let (a, b) = (brokers[0], brokers[1])
        var (onA, _) = try await a.client()
        let opened = try await onA.initialize()
        XCTAssertEqual(opened.status, 200, opened.body)
        let call = try await onA.tool(id: 1, "whoami")
        let pid = try XCTUnwrap(call.structured?["pid"] as? Int, call.body)
        // A second session of the same user, opened on B: its child runs there.
        var onB = MCPTestClient(baseURL: b.baseURL, accessToken: onA.accessToken, httpClient: b.httpClient)
        let openedOnB = try await onB.initialize()
        XCTAssertEqual(openedOnB.status, 200, openedOnB.body)
        let callOnB = try await onB.tool(id: 1, "whoami")
        let pidOnB = try XCTUnwrap(callOnB.structured?["pid"] as? Int, callOnB.body)

        let asked = try await a.admin(["sessions"])
        XCTAssertEqual(asked.status, 0, asked.stderr)
        let listedOnA = tables(asked.stdout)
        XCTAssertEqual(listedOnA.children.first, ["KIND", "USER", "CLIENTS", "AGE", "IDLE", "BUSY", "CHILD_PID", "TOKEN_EXPIRES",
                                                  "REPLICA", "REPLICA_ADDRESS"], asked.stdout)
        let sessions = listedOnA.children.filter { $0.first == "session" }
        XCTAssertEqual(sessions.count, 2, "both replicas' sessions, from the records: \(asked.stdout)")
        let local = try XCTUnwrap(sessions.first { $0.last == a.baseURL }, asked.stdout)
        XCTAssertTrue(local.contains("\(pid)"), asked.stdout)
        let elsewhere = try XCTUnwrap(sessions.first { $0.last == b.baseURL }, "the session whose child runs on b names b: \(asked.stdout)")
        XCTAssertEqual(elsewhere[1], "alice", asked.stdout)
        XCTAssertEqual(Array(elsewhere[4..<8]), ["-", "-", "-", "-"], "only b knows its child's details: \(asked.stdout)")
        XCTAssertFalse(elsewhere.contains("\(pidOnB)"), asked.stdout)
        let (replicaA, replicaB) = (local[local.count - 2], elsewhere[elsewhere.count - 2])

        XCTAssertEqual(listedOnA.replicas.first, ["REPLICA", "ADDRESS", "STARTED", "LAST_BEAT", "BEAT_AGE", "CHILDREN"], asked.stdout)
        let rowsOnA = listedOnA.replicas.dropFirst()
        XCTAssertEqual(Set(rowsOnA.map { $0[$0.count - 5] }), [a.baseURL, b.baseURL], asked.stdout)
        let aRow = try XCTUnwrap(rowsOnA.first { $0.contains(a.baseURL) }, asked.stdout)
        XCTAssertEqual(Array(aRow.prefix(2)), [replicaA, "(this)"], asked.stdout)
        XCTAssertGreaterThanOrEqual(Int(aRow.last ?? "") ?? 0, 1, "a holds at least its session's child: \(asked.stdout)")
        let bRowOnA = try XCTUnwrap(rowsOnA.first { $0.contains(b.baseURL) }, asked.stdout)
        XCTAssertEqual(bRowOnA.first, replicaB, asked.stdout)

        let onBListing = try await b.admin(["sessions"])
        XCTAssertEqual(onBListing.status, 0, onBListing.stderr)
        let listedOnB = tables(onBListing.stdout)
        let sessionsOnB = listedOnB.children.filter { $0.first == "session" }
        XCTAssertEqual(Set(sessionsOnB.map(\.last)), [a.baseURL, b.baseURL], "the same sessions asking b: \(onBListing.stdout)")
        XCTAssertTrue(sessionsOnB.contains { $0.last == b.baseURL && $0.contains("\(pidOnB)") }, onBListing.stdout)
        let bRow = try XCTUnwrap(listedOnB.replicas.first { $0.contains(b.baseURL) }, onBListing.stdout)
        XCTAssertEqual(bRow[1], "(this)", onBListing.stdout)
        XCTAssertFalse(listedOnB.replicas.contains { $0.contains(a.baseURL) && $0.contains("(this)") }, onBListing.stdout)
    }
}
