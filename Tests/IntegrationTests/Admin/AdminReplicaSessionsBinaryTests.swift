import Foundation
import XCTest

/// `fjmcp-broker sessions` against replicas on one PostgreSQL database: each child's row names
/// the replica holding it, and every replica is listed with its beat, the one asked marked.
final class AdminReplicaSessionsBinaryTests: XCTestCase {
    private var replicas: PostgresReplicas?

    override func tearDown() async throws {
        try await replicas?.stop()
    }

    /// The rows of a `sessions` listing's two tables, split into words.
    private func tables(_ listing: String) -> (children: [[String]], replicas: [[String]]) {
        let parts = listing.components(separatedBy: "\n\n")
        func rows(_ text: String) -> [[String]] {
            text.split(separator: "\n").map { $0.split(whereSeparator: \.isWhitespace).map(String.init) }
        }
        return (rows(parts.first ?? ""), parts.count > 1 ? rows(parts[1]) : [])
    }

    func testSessionsNamesEachChildsReplicaAndListsTheReplicas() async throws {
        let cluster = try PostgresReplicas()
        replicas = cluster
        let brokers = try await cluster.start(2, settings: ["FJMCP_REPLICA_HEARTBEAT": "200ms", "FJMCP_REPLICA_LAPSE": "2s"])
        let (a, b) = (brokers[0], brokers[1])
        var (client, _) = try await a.client()
        let opened = try await client.initialize()
        XCTAssertEqual(opened.status, 200, opened.body)
        let call = try await client.tool(id: 1, "whoami")
        let pid = try XCTUnwrap(call.structured?["pid"] as? Int, call.body)

        let onA = try await a.admin(["sessions"])
        XCTAssertEqual(onA.status, 0, onA.stderr)
        let listedOnA = tables(onA.stdout)
        XCTAssertEqual(listedOnA.children.first, ["KIND", "USER", "CLIENTS", "AGE", "IDLE", "BUSY", "CHILD_PID", "TOKEN_EXPIRES",
                                                  "REPLICA", "REPLICA_ADDRESS"], onA.stdout)
        let session = try XCTUnwrap(listedOnA.children.first { $0.first == "session" }, onA.stdout)
        XCTAssertTrue(session.contains("\(pid)"), onA.stdout)
        XCTAssertEqual(session.last, a.baseURL, "the session's child is held by the replica running it: \(onA.stdout)")
        let replicaID = session[session.count - 2]

        XCTAssertEqual(listedOnA.replicas.first, ["REPLICA", "ADDRESS", "STARTED", "LAST_BEAT", "BEAT_AGE", "CHILDREN"], onA.stdout)
        let rowsOnA = listedOnA.replicas.dropFirst()
        XCTAssertEqual(Set(rowsOnA.map { $0[$0.count - 5] }), [a.baseURL, b.baseURL], onA.stdout)
        let aRow = try XCTUnwrap(rowsOnA.first { $0.contains(a.baseURL) }, onA.stdout)
        XCTAssertEqual(Array(aRow.prefix(2)), [replicaID, "(this)"], onA.stdout)
        XCTAssertGreaterThanOrEqual(Int(aRow.last ?? "") ?? 0, 1, "a holds at least the session's child: \(onA.stdout)")

        let onB = try await b.admin(["sessions"])
        XCTAssertEqual(onB.status, 0, onB.stderr)
        let listedOnB = tables(onB.stdout)
        XCTAssertEqual(listedOnB.children.count, 1, "b runs no child: \(onB.stdout)")
        let bRow = try XCTUnwrap(listedOnB.replicas.first { $0.contains(b.baseURL) }, onB.stdout)
        XCTAssertEqual(bRow[1], "(this)", onB.stdout)
        XCTAssertFalse(listedOnB.replicas.contains { $0.contains(a.baseURL) && $0.contains("(this)") }, onB.stdout)
    }
}
