import AsyncHTTPClient
import BrokerKit
import Foundation
import XCTest

/// The stateless 2026-07-28 era on `/mcp`, end to end over loopback HTTP with the demo server as
/// the user's pooled child: era detection, the header/`_meta` rules with their exact JSON-RPC
/// codes and HTTP statuses, `server/discover`, result translation and cancellation.
final class ModernEraTests: XCTestCase {
    func testModernDiscoverIsAnsweredFromThePooledChild() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        let client = try await broker.client()
        let reply = try await client.modern(method: "server/discover")
        XCTAssertEqual(reply.status, 200, reply.body)
        XCTAssertNil(reply.headers["mcp-session-id"].first, "the modern era never mints a session")
        let result = try XCTUnwrap(reply.result, reply.body)
        XCTAssertEqual(result["supportedVersions"] as? [String], ["2026-07-28"])
        XCTAssertEqual(result["resultType"] as? String, "complete")
        XCTAssertEqual(result["ttlMs"] as? Int, 60_000)
        XCTAssertEqual(result["cacheScope"] as? String, "private")
        let tools = (result["capabilities"] as? [String: Any])?["tools"] as? [String: Any]
        XCTAssertEqual(tools?["listChanged"] as? Bool, true, "subscriptions/listen delivers the child's tools/list_changed")
        XCTAssertNil((result["capabilities"] as? [String: Any])?["resources"], "only what the child offers")
        XCTAssertEqual(ModernEraTests.serverName(result), "fjmcp-demo")
        let children = await broker.host.userChildCount
        XCTAssertEqual(children, 1)
        let sessions = await broker.host.sessionCount
        XCTAssertEqual(sessions, 0)
    }

    func testModernToolsListAndWhoamiReturnTheForgejoLogin() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        let client = try await broker.client()
        let tools = try await client.modern(id: 1, method: "tools/list")
        XCTAssertEqual(tools.status, 200, tools.body)
        let list = try XCTUnwrap(tools.result, tools.body)
        let names = (list["tools"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        XCTAssertEqual(Set(names ?? []), ["whoami", "echo", "sleep", "progress", "ask", "crash"])
        XCTAssertEqual(list["resultType"] as? String, "complete")
        XCTAssertEqual(list["ttlMs"] as? Int, 60_000)
        XCTAssertEqual(list["cacheScope"] as? String, "private")
        XCTAssertEqual(ModernEraTests.serverName(list), "fjmcp-demo")

        let whoami = try await client.modern(id: "w-1", method: "tools/call", params: ["name": "whoami", "arguments": [:]])
        XCTAssertEqual(whoami.status, 200, whoami.body)
        XCTAssertEqual(whoami.final["id"] as? String, "w-1")
        XCTAssertEqual(whoami.structured?["login"] as? String, "alice", whoami.body)
        XCTAssertEqual(whoami.result?["resultType"] as? String, "complete")
        XCTAssertNil(whoami.result?["ttlMs"], "tool results are not cacheable")
        XCTAssertEqual(ModernEraTests.serverName(whoami.result ?? [:]), "fjmcp-demo")

        let encoded = try await client.modern(id: 3, method: "tools/call", params: ["name": "whoami", "arguments": [:]],
                                              headers: ["Mcp-Name": "=?base64?d2hvYW1p?="])
        XCTAssertEqual(encoded.status, 200, encoded.body)
        XCTAssertEqual(encoded.structured?["login"] as? String, "alice")
    }

    func testModernHeaderRulesAnswer400WithHeaderMismatch() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        let client = try await broker.client()
        let whoami: [String: Any] = ["name": "whoami", "arguments": [:]]
        let cases: [(String, MCPReply)] = [
            ("no MCP-Protocol-Version", try await client.modern(method: "tools/list", omitting: ["MCP-Protocol-Version"])),
            ("MCP-Protocol-Version differs", try await client.modern(method: "tools/list", headers: ["MCP-Protocol-Version": "2025-11-25"])),
            ("no Mcp-Method", try await client.modern(method: "tools/list", omitting: ["Mcp-Method"])),
            ("Mcp-Method differs", try await client.modern(method: "tools/list", headers: ["Mcp-Method": "prompts/list"])),
            ("no Mcp-Name", try await client.modern(method: "tools/call", params: whoami, omitting: ["Mcp-Name"])),
            ("Mcp-Name differs", try await client.modern(method: "tools/call", params: whoami, headers: ["Mcp-Name": "echo"])),
            ("Mcp-Name bad base64", try await client.modern(method: "tools/call", params: whoami, headers: ["Mcp-Name": "=?base64?!!?="])),
            ("Mcp-Name base64 of another name", try await client.modern(method: "tools/call", params: whoami,
                                                                        headers: ["Mcp-Name": "=?base64?ZWNobw==?="])),
            ("resources/read uri differs", try await client.modern(method: "resources/read", params: ["uri": "file:///a"],
                                                                   headers: ["Mcp-Name": "file:///b"])),
            ("server/discover without _meta", try await client.post(MCPTestClient.body(id: 1, method: "server/discover"))),
        ]
        for (name, reply) in cases {
            XCTAssertEqual(reply.status, 400, "\(name): \(reply.body)")
            XCTAssertEqual(reply.errorCode, -32020, "\(name): \(reply.body)")
            XCTAssertEqual(reply.final["jsonrpc"] as? String, "2.0", name)
            XCTAssertNotNil(reply.final["id"], name)
        }
        let children = await broker.host.userChildCount
        XCTAssertEqual(children, 0, "a rejected request starts no child")
        // Legacy-shaped without a session (no 2026-07-28 header or `_meta`): served, not refused.
        let sessionless = try await client.post(MCPTestClient.body(id: 2, method: "tools/list"))
        XCTAssertEqual(sessionless.status, 200, sessionless.body)
        XCTAssertNil(sessionless.result?["resultType"], "answered as a 2025-11-25 server: \(sessionless.body)")
    }

    func testModernVersionMetaAndMethodRules() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        let client = try await broker.client()

        let old = try await client.modern(id: 9, method: "tools/list", meta: ModernEraTests.meta(version: "1900-01-01"),
                                          headers: ["MCP-Protocol-Version": "1900-01-01"])
        XCTAssertEqual(old.status, 400, old.body)
        XCTAssertEqual(old.errorCode, -32022)
        XCTAssertEqual(old.final["id"] as? Int, 9)
        let data = old.error?["data"] as? [String: Any]
        XCTAssertEqual(data?["supported"] as? [String], ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"])
        XCTAssertEqual(data?["requested"] as? String, "1900-01-01")

        var noCapabilities = ModernEraTests.meta()
        noCapabilities["io.modelcontextprotocol/clientCapabilities"] = nil
        let invalid: [(String, MCPReply)] = [
            ("no clientCapabilities", try await client.modern(method: "tools/list", meta: noCapabilities)),
            ("unknown logLevel", try await client.modern(method: "tools/list",
                                                         meta: ModernEraTests.meta(extra: ["io.modelcontextprotocol/logLevel": "loud"]))),
            ("header says modern, body has no _meta", try await client.post(MCPTestClient.body(id: 1, method: "tools/list"),
                                                                            headers: [("MCP-Protocol-Version", "2026-07-28")])),
        ]
        for (name, reply) in invalid {
            XCTAssertEqual(reply.status, 400, "\(name): \(reply.body)")
            XCTAssertEqual(reply.errorCode, -32602, "\(name): \(reply.body)")
        }

        let unknown = try await client.modern(method: "tasks/list")
        XCTAssertEqual(unknown.status, 404, unknown.body)
        XCTAssertEqual(unknown.errorCode, -32601)
        let unserved = try await client.modern(method: "prompts/list")
        XCTAssertEqual(unserved.status, 404, "the child has no prompts: \(unserved.body)")
        XCTAssertEqual(unserved.errorCode, -32601)

        let withSession = try await client.modern(method: "tools/list", headers: ["Mcp-Session-Id": "not-a-session"])
        XCTAssertEqual(withSession.status, 200, "a modern request's Mcp-Session-Id is ignored: \(withSession.body)")
        XCTAssertNil(withSession.headers["mcp-session-id"].first)
        let notification = try await client.post(MCPTestClient.json([
            "jsonrpc": "2.0", "method": "notifications/cancelled", "params": ["requestId": 1, "_meta": ModernEraTests.meta()],
        ]), headers: [("MCP-Protocol-Version", "2026-07-28")])
        XCTAssertEqual(notification.status, 202)
    }

    func testModernProgressOnlyWithATokenAndServerRequestsAreRefusedToTheChild() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        let client = try await broker.client()
        let progress: [String: Any] = ["name": "progress", "arguments": ["steps": 3, "intervalMs": 20]]
        let tracked = try await client.modern(id: 5, method: "tools/call", params: progress,
                                              meta: ModernEraTests.meta(extra: ["progressToken": "tok"]))
        XCTAssertTrue(tracked.isEventStream, tracked.contentType)
        XCTAssertEqual(tracked.messages.count, 4, tracked.body)
        XCTAssertEqual(tracked.messages.first?["method"] as? String, "notifications/progress")
        XCTAssertEqual((tracked.messages.first?["params"] as? [String: Any])?["progressToken"] as? String, "tok")
        XCTAssertEqual(tracked.result?["resultType"] as? String, "complete")

        let untracked = try await client.modern(id: 6, method: "tools/call", params: progress)
        XCTAssertEqual(untracked.messages.count, 1, "no token, no progress: \(untracked.body)")
        XCTAssertEqual(untracked.structured?["steps"] as? Int, 3)

        let ask = try await client.modern(id: 7, method: "tools/call", params: ["name": "ask", "arguments": ["kind": "elicitation"]])
        XCTAssertEqual(ask.status, 200, ask.body)
        XCTAssertEqual(ask.messages.count, 1, "no server→client request reaches a modern client: \(ask.body)")
        XCTAssertEqual(ask.result?["isError"] as? Bool, true, "the child's elicitation was refused: \(ask.body)")
    }

    func testModernClientClosingTheStreamCancelsTheCallOnTheChild() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        let client = try await broker.client()
        let (body, headers) = ModernEraTests.request(id: 7, method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 60_000]])
        let stream = try await client.stream(client.request(body: body, headers: headers))
        XCTAssertEqual(stream.status, 200)
        let pending = await broker.host.pendingRequests(userID: 101)
        XCTAssertEqual(pending, 1)
        stream.close()
        let cancelled = await eventually { await broker.host.pendingRequests(userID: 101) == 0 }
        XCTAssertTrue(cancelled, "closing the response stream cancels the call on the child")
    }

    func testModernLegacySessionAndModernRequestsOfOneUserRunTogether() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        var legacy = try await broker.client()
        _ = try await legacy.initialize()
        let session = legacy
        let modern = MCPTestClient(baseURL: session.baseURL, accessToken: session.accessToken, httpClient: session.httpClient)
        try await withThrowingTaskGroup(of: (String, MCPReply).self) { group in
            for index in 1...5 {
                group.addTask { ("legacy \(index)", try await session.tool(id: index, "whoami")) }
                group.addTask {
                    ("modern \(index)", try await modern.modern(id: index, method: "tools/call", params: ["name": "whoami", "arguments": [:]]))
                }
            }
            for try await (name, reply) in group {
                XCTAssertEqual(reply.status, 200, "\(name): \(reply.body)")
                XCTAssertEqual(reply.structured?["login"] as? String, "alice", "\(name): \(reply.body)")
                XCTAssertEqual(reply.result?["resultType"] as? String, name.hasPrefix("modern") ? "complete" : nil, name)
            }
        }
        let sessions = await broker.host.sessionCount
        let children = await broker.host.userChildCount
        XCTAssertEqual(sessions, 1)
        XCTAssertEqual(children, 1, "all of a user's modern requests share one child")
    }

    func testModernChildCountsAgainstThePerUserCap() async throws {
        let broker = try await MCPTestBroker.start(environment: ["FJMCP_MAX_SESSIONS_PER_USER": "1"])
        defer { Task { await broker.stop() } }
        var legacy = try await broker.client()
        _ = try await legacy.initialize()
        let modern = MCPTestClient(baseURL: legacy.baseURL, accessToken: legacy.accessToken, httpClient: legacy.httpClient)
        let reply = try await modern.modern(id: 4, method: "tools/list")
        XCTAssertEqual(reply.status, 503, reply.body)
        XCTAssertEqual(reply.errorCode, -32603)
        XCTAssertEqual(reply.final["id"] as? Int, 4)
    }

    // MARK: - Helpers

    static func meta(version: String = "2026-07-28", extra: [String: Any] = [:]) -> [String: Any] {
        var meta: [String: Any] = [
            "io.modelcontextprotocol/protocolVersion": version,
            "io.modelcontextprotocol/clientCapabilities": [:] as [String: Any],
            "io.modelcontextprotocol/clientInfo": ["name": "modern-tests", "version": "1"],
        ]
        meta.merge(extra) { _, new in new }
        return meta
    }

    /// A modern POST's body and the headers a conforming client derives from it; `headers`
    /// overrides them and `omitting` drops them by name.
    static func request(id: Any = 1, method: String, params: [String: Any] = [:], meta: [String: Any]? = nil,
                        headers: [String: String] = [:], omitting: Set<String> = []) -> (String, [(String, String)]) {
        var params = params
        params["_meta"] = meta ?? Self.meta()
        let version = (params["_meta"] as? [String: Any])?["io.modelcontextprotocol/protocolVersion"] as? String ?? "2026-07-28"
        var fields: [String: String] = ["MCP-Protocol-Version": version, "Mcp-Method": method]
        if let name = (params["name"] ?? params["uri"]) as? String { fields["Mcp-Name"] = name }
        // The demo child's `x-mcp-header` arguments, mirrored as a conforming client does.
        let arguments = params["arguments"] as? [String: Any]
        if method == "tools/call", let text = arguments?["text"] as? String { fields["Mcp-Param-Text"] = headerValue(text) }
        if method == "tools/call", let ms = arguments?["ms"] as? Int { fields["Mcp-Param-Ms"] = "\(ms)" }
        fields.merge(headers) { _, new in new }
        for name in omitting { fields[name] = nil }
        let body = MCPTestClient.json(["jsonrpc": "2.0", "id": id, "method": method, "params": params])
        return (body, fields.map { ($0.key, $0.value) })
    }

    /// A header value as the spec's Value Encoding writes it: plain when header-safe, else
    /// `=?base64?…?=`.
    static func headerValue(_ text: String) -> String {
        let safe = text.utf8.allSatisfy { (0x20...0x7E).contains($0) } && text.first != " " && text.last != " "
            && !(text.hasPrefix("=?base64?") && text.hasSuffix("?="))
        return safe ? text : "=?base64?" + Data(text.utf8).base64EncodedString() + "?="
    }

    static func serverName(_ result: [String: Any]) -> String? {
        ((result["_meta"] as? [String: Any])?["io.modelcontextprotocol/serverInfo"] as? [String: Any])?["name"] as? String
    }
}

extension MCPTestClient {
    func modern(id: Any = 1, method: String, params: [String: Any] = [:], meta: [String: Any]? = nil,
                headers: [String: String] = [:], omitting: Set<String> = []) async throws -> MCPReply {
        let (body, fields) = ModernEraTests.request(id: id, method: method, params: params, meta: meta, headers: headers, omitting: omitting)
        return try await post(body, headers: fields)
    }
}
