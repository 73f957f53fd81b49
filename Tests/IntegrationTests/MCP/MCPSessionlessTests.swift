import BrokerKit
import Foundation
import XCTest

/// Legacy-era requests without `Mcp-Session-Id` (a compatibility behaviour): served on the
/// user's child, answered as 2025-11-25. The child may ask the client for input only when that
/// client declared the capability in its most recent `initialize`; otherwise the child hears a
/// refusal and the tool fails cleanly instead of waiting for ever.
final class MCPSessionlessTests: XCTestCase {
    private func ask(_ client: MCPTestClient, id: Int) async throws -> MCPStream {
        var anonymous = client
        anonymous.sessionID = nil
        return try await anonymous.stream(anonymous.request(body: MCPTestClient.body(
            id: id, method: "tools/call", params: ["name": "ask", "arguments": ["kind": "elicitation"]])))
    }

    func testAServerRequestReachesAClientThatDeclaredTheCapabilityAndIsAnsweredWithoutASession() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        // Its initialize declares elicitation; it then drops the session id, as some connectors do.
        _ = try await client.initialize()
        client.sessionID = nil
        let stream = try await ask(client, id: 9)
        XCTAssertEqual(stream.status, 200)
        let first = await stream.next()
        let question = try XCTUnwrap(first)
        XCTAssertEqual(question["method"] as? String, "elicitation/create")
        let questionID = try XCTUnwrap(question["id"] as? String)
        let answer = try await client.post(MCPTestClient.json([
            "jsonrpc": "2.0", "id": questionID, "result": ["action": "accept", "content": ["ok": true]],
        ]))
        XCTAssertEqual(answer.status, 202)
        let last = await stream.next()
        let response = try XCTUnwrap(last)
        XCTAssertEqual(response["id"] as? Int, 9)
        let structured = ((response["result"] as? [String: Any])?["structuredContent"] as? [String: Any])
        XCTAssertEqual((structured?["result"] as? [String: Any])?["action"] as? String, "accept")
    }

    func testAServerRequestForAnUndeclaredCapabilityIsRefusedToTheChild() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        // Never initialized: nothing is known of its capabilities.
        let client = try await broker.client()
        let reply = try await client.call(id: 5, method: "tools/call", params: ["name": "ask", "arguments": ["kind": "elicitation"]])
        XCTAssertEqual(reply.status, 200, reply.body)
        XCTAssertFalse(reply.messages.contains { $0["method"] as? String == "elicitation/create" }, reply.body)
        XCTAssertEqual(reply.result?["isError"] as? Bool, true, "the tool learns the client cannot answer: \(reply.body)")
        XCTAssertTrue(reply.body.contains("-32601"), reply.body)
        let pending = await broker.host.pendingRequests(userID: 101)
        XCTAssertEqual(pending, 0, "nothing is left waiting on the child")
    }
}
