import Foundation

/// One protocol era as a test drives it, so that the behaviours both eras share (cleanup on a
/// reset connection, revocation) run from one suite, once per era: a legacy client opens a
/// session and sends `Mcp-Session-Id`; a 2026-07-28 client sends `_meta` and headers and runs on
/// the user's child.
enum TestEra: String, CaseIterable, Sendable {
    case legacy
    case modern

    /// A client ready to call tools in this era (a legacy one has opened its session).
    func ready(_ client: MCPTestClient) async throws -> MCPTestClient {
        guard self == .legacy else { return client }
        var client = client
        _ = try await client.initialize()
        return client
    }

    /// The body and headers of a `tools/call` as this era's client sends it (bearer included).
    func toolCall(_ client: MCPTestClient, id: Int, _ name: String, _ arguments: [String: Any]) -> (body: String, headers: [(String, String)]) {
        var headers: [(String, String)] = [
            ("Authorization", "Bearer \(client.accessToken)"), ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ]
        switch self {
        case .legacy:
            if let sessionID = client.sessionID { headers.append(("Mcp-Session-Id", sessionID)) }
            if let version = client.protocolVersion { headers.append(("MCP-Protocol-Version", version)) }
            return (MCPTestClient.body(id: id, method: "tools/call", params: ["name": name, "arguments": arguments]), headers)
        case .modern:
            let (body, fields) = ModernEraTests.request(id: id, method: "tools/call", params: ["name": name, "arguments": arguments])
            return (body, headers + fields)
        }
    }

    /// Calls a tool and returns the reply.
    func tool(_ client: MCPTestClient, id: Int, _ name: String, _ arguments: [String: Any] = [:]) async throws -> MCPReply {
        let (body, headers) = toolCall(client, id: id, name, arguments)
        return try await client.post(body, headers: headers, replacing: ["authorization", "content-type", "accept"])
    }

    /// The demo child's `stats` (`--stats`): tool calls received, finished and cancelled.
    struct ChildStats: Sendable {
        let received: Int
        let finished: Int
        let cancelled: Int
    }

    func childStats(_ client: MCPTestClient, id: Int) async throws -> ChildStats {
        let reply = try await tool(client, id: id, "stats")
        guard let stats = reply.structured else { throw ResettingConnection.Failure(description: "no stats: \(reply.body)") }
        return ChildStats(received: stats["received"] as? Int ?? -1, finished: stats["finished"] as? Int ?? -1,
                          cancelled: stats["cancelled"] as? Int ?? -1)
    }
}
