import AsyncHTTPClient
import BrokerKit
import Foundation
import XCTest

/// Session ends (idle, caps, crashes, misbehaving children, shutdown): each is contained to its
/// own session and leaves no process behind. Idle reap, eviction and a crash only free the
/// child: the session resumes on a new one at its next request.
final class MCPSessionLifecycleTests: XCTestCase {
    private func pid(of client: MCPTestClient, id: Int = 50) async throws -> Int32 {
        let whoami = try await client.tool(id: id, "whoami")
        return try XCTUnwrap((whoami.structured?["pid"] as? Int).map(Int32.init), whoami.body)
    }

    func testIdleSessionsAreReapedAndResumeOnANewChild() async throws {
        let broker = try await MCPTestBroker.start(environment: ["FJMCP_SESSION_IDLE_TIMEOUT": "1s"])
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        _ = try await client.initialize()
        let childPID = try await pid(of: client)
        let reaped = await eventually { await broker.host.sessionCount == 0 }
        XCTAssertTrue(reaped)
        let gone = await eventually { !processExists(childPID) }
        XCTAssertTrue(gone)
        let metrics = MetricsSnapshot.take()
        let resumed = try await pid(of: client, id: 2)
        XCTAssertNotEqual(resumed, childPID, "a reaped session costs a respawn, not a stranded client")
        XCTAssertEqual(MetricsSnapshot.take().delta(#"fjmcp_sessions_resumed_total{cause="reaped"}"#, since: metrics), 1)
    }

    func testPerUserCapEvictsTheIdleSessionAndRefusesWhenAllAreBusy() async throws {
        let broker = try await MCPTestBroker.start(environment: ["FJMCP_MAX_SESSIONS_PER_USER": "1"])
        defer { Task { await broker.stop() } }
        var first = try await broker.client()
        _ = try await first.initialize()
        var second = first
        let status1 = try await second.initialize().status
        XCTAssertEqual(status1, 200)
        let sessions = await broker.host.sessionCount
        XCTAssertEqual(sessions, 1, "the idle session's child made room")
        let evicted = try await first.call(id: 1, method: "tools/list").status
        XCTAssertEqual(evicted, 200, "the evicted session resumes, evicting the now idle other one")

        let busy = try await second.stream(second.request(body: MCPTestClient.body(
            id: 2, method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 60_000]])))
        XCTAssertEqual(busy.status, 200)
        var third = second
        _ = try await third.initialize()
        let refused = try await third.call(id: 3, method: "tools/list")
        XCTAssertEqual(refused.status, 503)
        XCTAssertEqual(refused.errorCode, -32603)
        XCTAssertEqual(refused.final["id"] as? Int, 3)
        XCTAssertTrue((refused.error?["message"] as? String)?.contains("limit") ?? false, refused.body)
        busy.close()
    }

    func testGlobalCapRefusesAnotherUserWhileAllSessionsAreBusy() async throws {
        let broker = try await MCPTestBroker.start(environment: ["FJMCP_MAX_SESSIONS": "1", "FJMCP_MAX_SESSIONS_PER_USER": "1"])
        defer { Task { await broker.stop() } }
        var alice = try await broker.client(login: "alice")
        _ = try await alice.initialize()
        let busy = try await alice.stream(alice.request(body: MCPTestClient.body(
            id: 2, method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 60_000]])))
        var bob = try await broker.client(login: "bob")
        _ = try await bob.initialize()
        let refused = try await bob.call(id: 1, method: "tools/list")
        XCTAssertEqual(refused.status, 503, refused.body)
        busy.close()
    }

    /// Fair caps: at the global cap another user's idle session is not given up for a newcomer.
    func testGlobalCapNeverEndsAnotherUsersIdleSession() async throws {
        let broker = try await MCPTestBroker.start(environment: ["FJMCP_MAX_SESSIONS": "1", "FJMCP_MAX_SESSIONS_PER_USER": "1"])
        defer { Task { await broker.stop() } }
        var alice = try await broker.client(login: "alice")
        _ = try await alice.initialize()
        let alicePID = try await pid(of: alice)
        var bob = try await broker.client(login: "bob")
        _ = try await bob.initialize()
        let refused = try await bob.call(id: 1, method: "tools/list")
        XCTAssertEqual(refused.status, 503, refused.body)
        XCTAssertTrue(processExists(alicePID), "bob's session must not end alice's idle child")
        let still = try await pid(of: alice, id: 51)
        XCTAssertEqual(still, alicePID)
    }

    /// A session takes at most FJMCP_MAX_CALLS_PER_SESSION requests at once; a cancellation still
    /// gets through at the bound, and the session takes calls again once some ended.
    func testASessionTakesABoundedNumberOfConcurrentCalls() async throws {
        let broker = try await MCPTestBroker.start(environment: ["FJMCP_MAX_CALLS_PER_SESSION": "2"])
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        _ = try await client.initialize()
        let slow = try await [1, 2].asyncMap { id in
            try await client.stream(client.request(body: MCPTestClient.body(
                id: id, method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 60_000]])))
        }
        let third = try await client.tool(id: 3, "echo", ["text": "one too many"])
        XCTAssertEqual(third.status, 503, third.body)
        XCTAssertEqual(third.errorCode, -32603)
        XCTAssertEqual(third.final["id"] as? Int, 3)
        XCTAssertTrue((third.error?["message"] as? String)?.contains("2 requests are already in flight") ?? false, third.body)
        let cancel = try await client.post(MCPTestClient.json([
            "jsonrpc": "2.0", "method": "notifications/cancelled", "params": ["requestId": 1, "reason": "enough"],
        ]))
        XCTAssertEqual(cancel.status, 202, "a cancellation is not a call: \(cancel.body)")
        slow[1].close()
        let freed = await eventually { await broker.host.busyCount < 2 }
        XCTAssertTrue(freed)
        let echo = try await client.tool(id: 4, "echo", ["text": "room again"])
        XCTAssertEqual(echo.structured?["text"] as? String, "room again", echo.body)
        slow[0].close()
    }

    func testChildCrashFailsItsCallAndTheSessionResumes() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        var crashing = try await broker.client()
        _ = try await crashing.initialize()
        var other = try await broker.client()
        _ = try await other.initialize()
        let crash = try await crashing.tool(id: 1, "crash", ["code": 3])
        XCTAssertEqual(crash.errorCode, -32603, crash.body)
        XCTAssertEqual(crash.final["id"] as? Int, 1)
        let resumed = try await crashing.call(id: 2, method: "tools/list")
        XCTAssertEqual(resumed.status, 200, "the next request resumes on a new child: \(resumed.body)")
        let echo = try await other.tool(id: 3, "echo", ["text": "fine"])
        XCTAssertEqual(echo.structured?["text"] as? String, "fine")
    }

    func testChildKilledMidRequestFailsThePendingCall() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        _ = try await client.initialize()
        let childPID = try await pid(of: client)
        let stream = try await client.stream(client.request(body: MCPTestClient.body(
            id: 4, method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 60_000]])))
        kill(childPID, SIGKILL)
        let answer = await stream.next()
        XCTAssertEqual(answer?["id"] as? Int, 4)
        XCTAssertEqual((answer?["error"] as? [String: Any])?["code"] as? Int, -32603)
    }

    func testChildRejectedAtStartIsAClearErrorQuickly() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        try await broker.forgejo.state.expireTokens(login: "alice")
        let started = ContinuousClock.now
        let reply = try await client.initialize()
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10))
        XCTAssertEqual(reply.status, 502, reply.body)
        XCTAssertEqual(reply.errorCode, -32603)
        XCTAssertEqual(reply.final["id"] as? Int, 0)
        XCTAssertTrue((reply.error?["message"] as? String)?.contains("exited with code 1") ?? false, reply.body)
        XCTAssertNil(reply.headers["mcp-session-id"].first)
        let count = await broker.host.sessionCount
        XCTAssertEqual(count, 0)
    }

    func testGarbageOnStdoutAndFloodsDoNotDisturbTheSession() async throws {
        let broker = try await MCPTestBroker.start(childOptions: ["--no-forgejo-check", "--garbage-stdout"])
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        let status2 = try await client.initialize().status
        XCTAssertEqual(status2, 200)
        var other = try await broker.client()
        _ = try await other.initialize()
        async let flood = client.tool(id: 1, "progress", ["steps": 2000, "intervalMs": 0], meta: ["progressToken": 1])
        let echo = try await other.tool(id: 2, "echo", ["text": "calm"])
        XCTAssertEqual(echo.structured?["text"] as? String, "calm")
        let flooded = try await flood
        XCTAssertEqual(flooded.messages.count, 2001)
        XCTAssertEqual(flooded.final["id"] as? Int, 1)
    }

    func testOverlongLineKillsOnlyThatChild() async throws {
        let broker = try await MCPTestBroker.start(childOptions: ["--no-forgejo-check", "--oversized-line", "\(17 << 20)"])
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        let status3 = try await client.initialize().status
        XCTAssertEqual(status3, 200)
        let ended = await eventually { await broker.host.sessionCount == 0 }
        XCTAssertTrue(ended, "the child wrote a line over the limit right after initialize and was killed")
        var next = try await broker.client()
        let status4 = try await next.initialize().status
        XCTAssertEqual(status4, 200, "the broker keeps opening sessions")
    }

    func testChildIgnoringSIGTERMIsKilled() async throws {
        let broker = try await MCPTestBroker.start(childOptions: ["--no-forgejo-check", "--ignore-sigterm"])
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        _ = try await client.initialize()
        let childPID = try await pid(of: client)
        let stream = try await client.stream(client.request(body: MCPTestClient.body(
            id: 4, method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 60_000]])))
        let status5 = try await client.delete().status
        XCTAssertEqual(status5, 204)
        let gone = await eventually(timeout: .seconds(5)) { !processExists(childPID) }
        XCTAssertTrue(gone)
        let answer = await stream.next()
        XCTAssertEqual((answer?["error"] as? [String: Any])?["code"] as? Int, -32603)
    }

    func testShutdownLeavesNoChildProcess() async throws {
        let broker = try await MCPTestBroker.start()
        var pids: [Int32] = []
        for login in ["alice", "bob", "alice"] {
            var client = try await broker.client(login: login)
            _ = try await client.initialize()
            pids.append(try await pid(of: client))
        }
        XCTAssertEqual(Set(pids).count, 3)
        await broker.host.shutdown()
        for pid in pids { XCTAssertFalse(processExists(pid), "child \(pid) outlived shutdown") }
        await broker.stop()
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
