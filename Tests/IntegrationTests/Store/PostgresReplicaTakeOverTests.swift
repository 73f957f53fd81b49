import AsyncHTTPClient
import Foundation
import XCTest

/// Two `fjmcp-broker serve` replicas on one PostgreSQL database: a session's child runs on the
/// replica that opened it, and another replica never starts a second one while the holder's
/// heartbeat is live (it forwards the request to the holder); once
/// the holder is SIGKILLed and its lapse has passed, the other replica resumes the session under
/// the same id, without a new `initialize`.
final class PostgresReplicaTakeOverTests: PostgresReplicaTestCase {

    func testASessionHeldByALiveReplicaIsNotStartedElsewhereAndIsResumedOnceItsHolderDiedAndLapsed() async throws {
        let brokers = try await startReplicas(2, settings: ["FJMCP_REPLICA_HEARTBEAT": "200ms", "FJMCP_REPLICA_LAPSE": "1s"])
        let (holder, other) = (brokers[0], brokers[1])
        var (onHolder, tokens) = try await holder.client()
        let opened = try await onHolder.initialize()
        XCTAssertEqual(opened.status, 200, opened.body)
        let sessionID = try XCTUnwrap(onHolder.sessionID)
        let first = try await onHolder.tool(id: 1, "whoami")
        XCTAssertEqual(first.status, 200, first.body)
        let holderPID = try XCTUnwrap(first.structured?["pid"] as? Int, first.body)

        var onOther = MCPTestClient(baseURL: other.baseURL, accessToken: tokens.accessToken, httpClient: other.httpClient)
        onOther.sessionID = sessionID
        onOther.protocolVersion = onHolder.protocolVersion
        let elsewhere = try await onOther.tool(id: 2, "whoami")
        // Forwarded to the holder: answered by its child.
        XCTAssertEqual(elsewhere.status, 200, elsewhere.body)
        XCTAssertEqual(elsewhere.structured?["pid"] as? Int, holderPID, "answered by the holder's child")
        let otherLog = other.process?.stderr ?? ""
        XCTAssertFalse(otherLog.contains("session resumed on a new child"), "no second child while the holder lives")

        holder.process?.signal(SIGKILL)
        _ = await holder.process?.waitForExit(timeout: .seconds(10))
        var resumed: MCPReply?
        let served = await eventually(timeout: .seconds(10)) {
            resumed = try? await onOther.tool(id: 3, "whoami")
            return resumed?.status == 200
        }
        XCTAssertTrue(served, "the session resumes on the other replica once the holder's lapse passed: \(resumed?.body ?? "-")")
        XCTAssertEqual(resumed?.structured?["login"] as? String, "alice", resumed?.body ?? "")
        XCTAssertNotEqual(resumed?.structured?["pid"] as? Int, holderPID, "a new child, on the other replica")
        let log = other.process?.stderr ?? ""
        XCTAssertTrue(log.contains("session resumed on a new child") && log.contains(sessionID), log)
        XCTAssertEqual(onOther.sessionID, sessionID, "no new initialize: the same session id")
    }
}
