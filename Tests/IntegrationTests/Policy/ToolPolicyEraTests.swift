import BrokerKit
import Foundation
import XCTest

/// The tool policy over real HTTP with the demo child, on every path a tool call can take:
/// a legacy session (also a 2025-03-26 batch), a session-less request and the 2026-07-28 era.
/// The demo annotates `whoami` and `echo` read-only and `crash` not; the others have none.
final class ToolPolicyEraTests: XCTestCase {
    private func names(_ reply: MCPReply) -> [String] { reply.toolNames }

    private func assertRefused(_ reply: MCPReply, by setting: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(reply.status, 200, reply.body, file: file, line: line)
        XCTAssertEqual(reply.errorCode, -32602, reply.body, file: file, line: line)
        XCTAssertTrue((reply.error?["message"] as? String ?? "").contains(setting), reply.body, file: file, line: line)
        XCTAssertEqual((reply.error?["data"] as? [String: Any])?["policy"] as? String, setting, reply.body, file: file, line: line)
    }

    func testReadOnlyAndDenyHideAndRefuseOnEveryPath() async throws {
        let broker = try await MCPTestBroker.start(environment: ["FJMCP_READ_ONLY": "true", "FJMCP_TOOLS_DENY": "echo"])
        defer { Task { await broker.stop() } }
        var session = try await broker.client()
        _ = try await session.initialize()

        // Legacy session: only whoami is left (echo denied; crash annotated not read-only;
        // sleep, progress, ask unannotated without a read-only name).
        let list = try await session.call(id: 1, method: "tools/list")
        XCTAssertEqual(names(list), ["whoami"], list.body)
        let before = try await session.tool(id: 2, "whoami")
        let pid = try XCTUnwrap(before.structured?["pid"] as? Int, before.body)
        assertRefused(try await session.tool(id: 3, "crash"), by: "FJMCP_READ_ONLY")
        assertRefused(try await session.tool(id: 4, "echo", ["text": "x"]), by: "FJMCP_TOOLS_DENY")
        assertRefused(try await session.tool(id: 5, "sleep", ["ms": 1]), by: "FJMCP_READ_ONLY")
        let after = try await session.tool(id: 6, "whoami")
        XCTAssertEqual(after.structured?["pid"] as? Int, pid, "crash never reached the child: \(after.body)")

        // Session-less (the user's child).
        var anonymous = session
        anonymous.sessionID = nil
        let anonymousList = try await anonymous.call(id: 7, method: "tools/list")
        XCTAssertEqual(names(anonymousList), ["whoami"], anonymousList.body)
        assertRefused(try await anonymous.tool(id: 8, "crash"), by: "FJMCP_READ_ONLY")
        let anonymousWhoami = try await anonymous.tool(id: 9, "whoami")
        let userPID = try XCTUnwrap(anonymousWhoami.structured?["pid"] as? Int, anonymousWhoami.body)

        // 2026-07-28 (the same user child).
        let modernList = try await session.modern(id: 10, method: "tools/list")
        XCTAssertEqual(names(modernList), ["whoami"], modernList.body)
        XCTAssertEqual(modernList.result?["resultType"] as? String, "complete", "still a translated modern result")
        assertRefused(try await session.modern(id: 11, method: "tools/call", params: ["name": "crash", "arguments": [:]]), by: "FJMCP_READ_ONLY")
        assertRefused(try await session.modern(id: "e", method: "tools/call", params: ["name": "echo", "arguments": ["text": "x"]]),
                      by: "FJMCP_TOOLS_DENY")
        let modernWhoami = try await session.modern(id: 12, method: "tools/call", params: ["name": "whoami", "arguments": [:]])
        XCTAssertEqual(modernWhoami.structured?["pid"] as? Int, userPID, "the user child survived every refused crash")
    }

    /// Every refused call on every path is answered by the broker and never forwarded: each
    /// child's own count of the tool calls it received (`--stats`, which does not count itself)
    /// holds exactly the allowed ones.
    func testNoRefusedCallReachesTheChildOnAnyPath() async throws {
        let broker = try await MCPTestBroker.start(childOptions: ["--stats"], environment: ["FJMCP_TOOLS_ALLOW": "whoami,stats"])
        defer { Task { await broker.stop() } }

        // Legacy session: its own child.
        var session = try await broker.client()
        _ = try await session.initialize()
        for (id, name) in [(1, "crash"), (2, "echo"), (3, "sleep")] {
            assertRefused(try await session.tool(id: id, name, ["text": "x", "ms": 1]), by: "FJMCP_TOOLS_ALLOW")
        }
        let whoami = try await session.tool(id: 4, "whoami")
        XCTAssertNotNil(whoami.structured, whoami.body)
        try assertReceived(1, try await session.tool(id: 5, "stats"))

        // 2025-03-26 batch: a session and child of its own.
        var batchSession = try await broker.client()
        _ = try await batchSession.initialize(version: "2025-03-26")
        let batch = try await batchSession.post(MCPTestClient.json([
            ["jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": ["name": "crash", "arguments": [:]]],
            ["jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": ["name": "whoami", "arguments": [:]]],
            ["jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": ["name": "echo", "arguments": ["text": "x"]]],
        ]))
        XCTAssertEqual(batch.status, 200, batch.body)
        try assertReceived(1, try await batchSession.tool(id: 9, "stats"))

        // Session-less and 2026-07-28 requests: the user's child.
        var anonymous = session
        anonymous.sessionID = nil
        assertRefused(try await anonymous.tool(id: 10, "crash"), by: "FJMCP_TOOLS_ALLOW")
        let anonymousWhoami = try await anonymous.tool(id: 11, "whoami")
        XCTAssertNotNil(anonymousWhoami.structured, anonymousWhoami.body)
        assertRefused(try await session.modern(id: 12, method: "tools/call", params: ["name": "crash", "arguments": [:]]),
                      by: "FJMCP_TOOLS_ALLOW")
        assertRefused(try await session.modern(id: 13, method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 1]]),
                      by: "FJMCP_TOOLS_ALLOW")
        let modernWhoami = try await session.modern(id: 14, method: "tools/call", params: ["name": "whoami", "arguments": [:]])
        XCTAssertNotNil(modernWhoami.structured, modernWhoami.body)
        try assertReceived(2, try await session.modern(id: 15, method: "tools/call", params: ["name": "stats", "arguments": [:]]))
    }

    private func assertReceived(_ expected: Int, _ stats: MCPReply, file: StaticString = #filePath, line: UInt = #line) throws {
        let received = try XCTUnwrap(stats.structured?["received"] as? Int, stats.body, file: file, line: line)
        XCTAssertEqual(received, expected, "tool calls the child received: \(stats.body)", file: file, line: line)
    }

    func testAllowListFiltersBatchElementsAndAnUnreadableNameFailsClosed() async throws {
        let broker = try await MCPTestBroker.start(environment: ["FJMCP_TOOLS_ALLOW": "who*,e?ho"])
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        _ = try await client.initialize(version: "2025-03-26")
        let batch = MCPTestClient.json([
            ["jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": [:]],
            ["jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": ["name": "sleep", "arguments": ["ms": 1]]],
            ["jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": ["name": "echo", "arguments": ["text": "hi"]]],
        ])
        let reply = try await client.post(batch)
        XCTAssertEqual(reply.status, 200, reply.body)
        let answers = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [[String: Any]], reply.body)
        let byID = Dictionary(answers.compactMap { answer in (answer["id"] as? Int).map { ($0, answer) } }) { first, _ in first }
        let listed = ((byID[1]?["result"] as? [String: Any])?["tools"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        XCTAssertEqual(listed?.sorted(), ["echo", "whoami"])
        let refused = byID[2]?["error"] as? [String: Any]
        XCTAssertEqual(refused?["code"] as? Int, -32602)
        XCTAssertEqual((refused?["data"] as? [String: Any])?["policy"] as? String, "FJMCP_TOOLS_ALLOW")
        XCTAssertNotNil(byID[3]?["result"], reply.body)

        var session = client
        _ = try await session.initialize()
        let nameless = try await session.call(id: 4, method: "tools/call", params: ["name": 7, "arguments": [:]])
        assertRefused(nameless, by: "FJMCP_TOOLS_ALLOW")
    }

    func testListChangedPassesThroughToTheClient() async throws {
        let broker = try await MCPTestBroker.start(childOptions: ["--notify"], environment: ["FJMCP_TOOLS_DENY": "crash"])
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        _ = try await client.initialize()
        let reply = try await client.tool(id: 1, "notify", ["kind": "tools"])
        XCTAssertTrue(reply.messages.contains { $0["method"] as? String == "notifications/tools/list_changed" }, reply.body)
        let list = try await client.call(id: 2, method: "tools/list")
        XCTAssertEqual(names(list), ["ask", "echo", "notify", "progress", "sleep", "whoami"], list.body)
    }
}

extension MCPReply {
    /// The tool names of a `tools/list` answer, sorted.
    var toolNames: [String] {
        ((result?["tools"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }.sorted()
    }
}
