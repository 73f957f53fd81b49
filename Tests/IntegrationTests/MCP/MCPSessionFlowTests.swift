import AsyncHTTPClient
import BrokerKit
import Foundation
import XCTest

/// The MCP endpoint end to end: OAuth login against the fake Forgejo, then real sessions with
/// the demo server as the child, over loopback HTTP.
final class MCPSessionFlowTests: XCTestCase {
    func testInitializeListAndWhoamiInEveryProtocolVersion() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        let alice = try await broker.client()
        for version in ["2025-03-26", "2025-06-18", "2025-11-25"] {
            var client = alice
            let initialized = try await client.initialize(version: version)
            XCTAssertEqual(initialized.status, 200, initialized.body)
            XCTAssertEqual(initialized.result?["protocolVersion"] as? String, version)
            let sessionID = try XCTUnwrap(client.sessionID)
            XCTAssertGreaterThanOrEqual(sessionID.count, 22)
            XCTAssertTrue(sessionID.utf8.allSatisfy { (0x21...0x7E).contains($0) })

            let tools = try await client.call(id: 1, method: "tools/list")
            XCTAssertEqual(tools.status, 200)
            XCTAssertTrue(tools.contentType.hasPrefix("application/json"))
            let names = (tools.result?["tools"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
            XCTAssertEqual(Set(names ?? []), ["whoami", "echo", "sleep", "progress", "ask", "crash"])

            let whoami = try await client.tool(id: 2, "whoami")
            XCTAssertEqual(whoami.final["id"] as? Int, 2)
            XCTAssertEqual(whoami.structured?["login"] as? String, "alice", whoami.body)
        }
        let count = await broker.host.sessionCount
        XCTAssertEqual(count, 3)
        let metrics = String(decoding: BrokerMetrics.render(), as: UTF8.self)
        for series in ["fjmcp_sessions_active", "fjmcp_children_active", "fjmcp_child_spawn_duration_seconds",
                       "fjmcp_bridge_requests_total{method=\"tools/call\"}", "fjmcp_bridge_request_duration_seconds"] {
            XCTAssertTrue(metrics.contains(series), "missing \(series)")
        }
    }

    func testTwentyConcurrentCallsOnOneSessionPairCorrectly() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        _ = try await client.initialize()
        let session = client
        try await withThrowingTaskGroup(of: (Int, MCPReply).self) { group in
            for index in 1...20 {
                group.addTask {
                    (index, try await session.tool(id: 100 + index, "echo", ["text": "message \(index)"]))
                }
            }
            for try await (index, reply) in group {
                XCTAssertEqual(reply.final["id"] as? Int, 100 + index)
                XCTAssertEqual(reply.structured?["text"] as? String, "message \(index)")
            }
        }
    }

    func testProgressNotificationsArriveOnTheRequestStream() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        _ = try await client.initialize()
        let reply = try await client.tool(id: 5, "progress", ["steps": 3, "intervalMs": 20], meta: ["progressToken": "my-token"])
        XCTAssertTrue(reply.isEventStream, reply.contentType)
        XCTAssertEqual(reply.headers["x-accel-buffering"].first, "no")
        let messages = reply.messages
        XCTAssertEqual(messages.count, 4, reply.body)
        for (index, message) in messages.prefix(3).enumerated() {
            XCTAssertEqual(message["method"] as? String, "notifications/progress")
            let params = message["params"] as? [String: Any]
            XCTAssertEqual(params?["progressToken"] as? String, "my-token")
            XCTAssertEqual(params?["progress"] as? Int, index + 1)
        }
        XCTAssertEqual(messages.last?["id"] as? Int, 5)
        XCTAssertEqual((messages.last?["result"] as? [String: Any]).flatMap { $0["structuredContent"] as? [String: Any] }?["steps"] as? Int, 3)
        // The server ends the connection after an SSE answer; saying so keeps clients from reusing it.
        XCTAssertEqual(reply.headers["connection"].first?.lowercased(), "close")
        for id in 6...8 {
            let next = try await client.tool(id: id, "echo", ["text": "after \(id)"])
            XCTAssertEqual(next.status, 200, next.body)
        }
    }

    func testServerToClientRequestIsAnsweredByPost() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        _ = try await client.initialize()
        let stream = try await client.stream(client.request(body: MCPTestClient.body(
            id: 9, method: "tools/call", params: ["name": "ask", "arguments": ["kind": "elicitation"]])))
        XCTAssertEqual(stream.status, 200)
        let firstMessage = await stream.next()
        let question = try XCTUnwrap(firstMessage)
        XCTAssertEqual(question["method"] as? String, "elicitation/create")
        let questionID = try XCTUnwrap(question["id"] as? String)
        let answer = try await client.post(MCPTestClient.json([
            "jsonrpc": "2.0", "id": questionID, "result": ["action": "accept", "content": ["ok": true]],
        ]))
        XCTAssertEqual(answer.status, 202)
        XCTAssertEqual(answer.body, "")
        let lastMessage = await stream.next()
        let response = try XCTUnwrap(lastMessage)
        XCTAssertEqual(response["id"] as? Int, 9)
        let structured = ((response["result"] as? [String: Any])?["structuredContent"] as? [String: Any])
        XCTAssertEqual((structured?["result"] as? [String: Any])?["action"] as? String, "accept")
    }

    func testCancelledNotificationStopsTheCall() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        _ = try await client.initialize()
        let sessionID = try XCTUnwrap(client.sessionID)
        let session = try await broker.host.lookup(id: sessionID, owner: broker.owner(of: "alice", client: client))
        let stream = try await client.stream(client.request(body: MCPTestClient.body(
            id: 7, method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 60_000]])))
        XCTAssertEqual(stream.status, 200)
        let pendingBefore = await session.pendingRequests
        XCTAssertEqual(pendingBefore, 1)
        let cancel = try await client.post(MCPTestClient.json([
            "jsonrpc": "2.0", "method": "notifications/cancelled", "params": ["requestId": 7, "reason": "user"],
        ]))
        XCTAssertEqual(cancel.status, 202)
        let next = await stream.next()
        XCTAssertNil(next, "a cancelled request gets no response")
        let pendingAfter = await session.pendingRequests
        XCTAssertEqual(pendingAfter, 0)
        let echo = try await client.tool(id: 8, "echo", ["text": "still here"])
        XCTAssertEqual(echo.structured?["text"] as? String, "still here")
    }

    func testClientDisconnectCancelsTheCall() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        _ = try await client.initialize()
        let sessionID = try XCTUnwrap(client.sessionID)
        let session = try await broker.host.lookup(id: sessionID, owner: broker.owner(of: "alice", client: client))
        let stream = try await client.stream(client.request(body: MCPTestClient.body(
            id: 7, method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 60_000]])))
        XCTAssertEqual(stream.status, 200)
        let pending = await session.pendingRequests
        XCTAssertEqual(pending, 1)
        stream.close()
        let cancelled = await eventually { await session.pendingRequests == 0 }
        XCTAssertTrue(cancelled, "the broker cancels the call on the child when the client goes away")
    }

    func testAnotherUsersSessionIDIsNotFound() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        var alice = try await broker.client(login: "alice")
        _ = try await alice.initialize()
        var thief = try await broker.client(login: "bob")
        let value2 = try await thief.initialize().status
        XCTAssertEqual(value2, 200)
        thief.sessionID = alice.sessionID
        let value3 = try await thief.call(id: 1, method: "tools/list").status
        XCTAssertEqual(value3, 404)
        let value4 = try await thief.send(thief.request(.GET)).status
        XCTAssertEqual(value4, 404)
        let value5 = try await thief.delete().status
        XCTAssertEqual(value5, 404)
        let whoami = try await alice.tool(id: 2, "whoami")
        XCTAssertEqual(whoami.structured?["login"] as? String, "alice")
        var bob = try await broker.client(login: "bob")
        _ = try await bob.initialize()
        let bobWhoami = try await bob.tool(id: 3, "whoami")
        XCTAssertEqual(bobWhoami.structured?["login"] as? String, "bob")
    }

    func testDeleteEndsTheSessionAndItsChild() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        _ = try await client.initialize()
        let whoami = try await client.tool(id: 1, "whoami")
        let pid = try XCTUnwrap((whoami.structured?["pid"] as? Int).map(Int32.init))
        let value7 = try await client.delete().status
        XCTAssertEqual(value7, 204)
        let value8 = try await client.call(id: 2, method: "tools/list").status
        XCTAssertEqual(value8, 404)
        let gone = await eventually { !processExists(pid) }
        XCTAssertTrue(gone)
    }

    func testServerStreamCarriesUnsolicitedMessagesAndEndsOnDelete() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        _ = try await client.initialize()
        let stream = try await client.stream(client.request(.GET))
        XCTAssertEqual(stream.status, 200)
        XCTAssertTrue(stream.headers["content-type"].first?.hasPrefix("text/event-stream") ?? false)
        XCTAssertEqual(stream.headers["connection"].first?.lowercased(), "close", "a proxy must not reuse the stream's connection")
        let value9 = try await client.delete().status
        XCTAssertEqual(value9, 204)
        let next = await stream.next()
        XCTAssertNil(next)
    }
}

extension MCPTestBroker {
    /// The owner a client's requests are bound to (for reaching into the registry in tests).
    func owner(of login: String, client: MCPTestClient) async throws -> SessionOwner {
        let principal = try await BearerAuthenticator(config: config, store: store).authenticate(token: client.accessToken)
        return SessionOwner(principal)
    }
}
