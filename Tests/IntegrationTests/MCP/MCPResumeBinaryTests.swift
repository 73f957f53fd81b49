import BrokerKit
import Foundation
import XCTest

/// No user left stranded, against the built binary: deployed clients that never re-initialize
/// after a 404, or never send `Mcp-Session-Id` at all, keep working across a restart, a killed
/// child and an idle reap; what ends a session for good still does.
final class MCPResumeBinaryTests: XCTestCase {
    private var broker: ServedBroker!

    override func tearDown() async throws {
        await broker?.shutdown()
    }

    private func whoami(_ client: MCPTestClient, id: Int) async throws -> (login: String?, pid: Int32) {
        let reply = try await client.tool(id: id, "whoami")
        XCTAssertEqual(reply.status, 200, reply.body)
        let pid = try XCTUnwrap((reply.structured?["pid"] as? Int).map(Int32.init), reply.body)
        return (reply.structured?["login"] as? String, pid)
    }

    /// A client that echoes its session id but never re-initializes.
    func testASessionResumesAfterRestartKilledChildAndIdleReap() async throws {
        broker = try await ServedBroker.start(environment: ["FJMCP_SESSION_IDLE_TIMEOUT": "2s"])
        var (client, _) = try await broker.client()
        _ = try await client.initialize()
        let first = try await whoami(client, id: 1)
        XCTAssertEqual(first.login, "alice")

        try await broker.restart()
        let afterRestart = try await whoami(client, id: 2)
        XCTAssertEqual(afterRestart.login, "alice", "the right user's child after a restart")
        XCTAssertNotEqual(afterRestart.pid, first.pid)

        kill(afterRestart.pid, SIGKILL)
        let gone = await eventually { !processExists(afterRestart.pid) }
        XCTAssertTrue(gone)
        // The call racing the child's death may fail; the next one resumes.
        var afterKill: (login: String?, pid: Int32)?
        for attempt in 0..<2 where afterKill == nil {
            let reply = try await client.tool(id: 10 + attempt, "whoami")
            if let pid = reply.structured?["pid"] as? Int { afterKill = (reply.structured?["login"] as? String, Int32(pid)) }
        }
        let resumed = try XCTUnwrap(afterKill, "the session did not resume after its child was killed")
        XCTAssertEqual(resumed.login, "alice")
        XCTAssertNotEqual(resumed.pid, afterRestart.pid)

        let reaped = await eventually(timeout: .seconds(15)) { !processExists(resumed.pid) }
        XCTAssertTrue(reaped, "the idle reaper did not free the child")
        let afterReap = try await whoami(client, id: 20)
        XCTAssertEqual(afterReap.login, "alice")
        XCTAssertNotEqual(afterReap.pid, resumed.pid)
        let log = try XCTUnwrap(broker.process).stderr
        XCTAssertTrue(log.contains("cause=restart") || log.contains("\"cause\":\"restart\""), log)
        XCTAssertTrue(log.contains("cause=crashed") || log.contains("\"cause\":\"crashed\""), log)
        XCTAssertTrue(log.contains("cause=reaped") || log.contains("\"cause\":\"reaped\""), log)
    }

    func testWhatEndsASessionStillDoesAndNobodyElseCanResumeIt() async throws {
        broker = try await ServedBroker.start()
        var (alice, _) = try await broker.client()
        _ = try await alice.initialize()
        _ = try await whoami(alice, id: 1)
        let sessionID = try XCTUnwrap(alice.sessionID)

        // The same user's other client, and another user, presenting alice's session id.
        var (otherClient, _) = try await broker.client()
        otherClient.sessionID = sessionID
        otherClient.protocolVersion = alice.protocolVersion
        var (bob, _) = try await broker.client(login: "bob")
        bob.sessionID = sessionID
        bob.protocolVersion = alice.protocolVersion
        try await broker.restart()
        for (name, intruder) in [("another client", otherClient), ("another user", bob)] {
            let reply = try await intruder.call(id: 2, method: "tools/list")
            XCTAssertEqual(reply.status, 404, "\(name): \(reply.body)")
        }
        let still = try await whoami(alice, id: 3)
        XCTAssertEqual(still.login, "alice")

        let deleted = try await alice.delete()
        XCTAssertEqual(deleted.status, 204)
        try await broker.restart()
        let after = try await alice.call(id: 4, method: "tools/list")
        XCTAssertEqual(after.status, 404, "a DELETEd session stays deleted after a restart: \(after.body)")
    }

    /// A client that never sends `Mcp-Session-Id` (and one that re-sends `initialize` in a loop).
    func testAClientWithoutSessionIDIsServedAndInitializeLoopsStartAtMostOneChild() async throws {
        broker = try await ServedBroker.start()
        let (client, _) = try await broker.client()
        for id in 1...50 {
            let reply = try await client.post(MCPTestClient.body(id: id, method: "initialize", params: [
                "protocolVersion": "2025-06-18", "capabilities": [:] as [String: Any], "clientInfo": ["name": "looping", "version": "1"],
            ]))
            XCTAssertEqual(reply.status, 200, reply.body)
            XCTAssertNotNil(reply.headers["mcp-session-id"].first)
        }
        let listing = try await broker.admin(["sessions"])
        let children = listing.stdout.split(separator: "\n").dropFirst().count
        XCTAssertLessThanOrEqual(children, 1, "50 initializes started \(children) children:\n\(listing.stdout)")

        let tools = try await client.call(id: 100, method: "tools/list")
        XCTAssertEqual(tools.status, 200, tools.body)
        XCTAssertNotNil((tools.result?["tools"] as? [Any])?.first, tools.body)
        XCTAssertNil(tools.result?["resultType"], "answered as a 2025-11-25 server: \(tools.body)")
        let who = try await whoami(client, id: 101)
        XCTAssertEqual(who.login, "alice")
        let (bobClient, _) = try await broker.client(login: "bob")
        let bob = try await whoami(bobClient, id: 102)
        XCTAssertEqual(bob.login, "bob", "each user's requests run on their own child")
        XCTAssertNotEqual(bob.pid, who.pid)
    }
}
