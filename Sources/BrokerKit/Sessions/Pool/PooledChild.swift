import Foundation

/// What the pooled child said about itself in its `initialize` result, kept as JSON fragments
/// (Sendable) for `server/discover` and the `serverInfo` every modern result carries.
public struct ChildServerInfo: Sendable {
    /// The child's `capabilities` object, JSON-encoded.
    let capabilities: Data
    /// The child's `serverInfo` object, JSON-encoded; nil if it sent none.
    let serverInfo: Data?
    let instructions: String?

    /// Nil unless `response` is an `initialize` result with a `capabilities` object.
    init?(initializeResponse response: [UInt8]) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(response))) as? [String: Any],
            let result = object["result"] as? [String: Any], let capabilities = result["capabilities"] as? [String: Any],
            let encoded = try? JSONSerialization.data(withJSONObject: capabilities)
        else { return nil }
        self.capabilities = encoded
        self.serverInfo = (result["serverInfo"] as? [String: Any]).flatMap { try? JSONSerialization.data(withJSONObject: $0) }
        self.instructions = result["instructions"] as? String
    }
}

/// One user's broker-initialized child, shared by all of that user's 2026-07-28 requests.
public struct PooledChild: Sendable {
    /// Distinguishes a replacement child from the one it replaced (release, exit).
    let serial: Int
    let userID: Int64
    public let bridge: ChildBridge
    let server: ChildServerInfo
    /// The child's `x-mcp-header` annotations, for `Mcp-Param-*` validation.
    let catalog: ToolHeaderCatalog

    /// Whether the child's `initialize` result announced `feature` (e.g. "tools", "resources").
    func offers(_ feature: String) -> Bool {
        ((try? JSONSerialization.jsonObject(with: server.capabilities)) as? [String: Any])?[feature] != nil
    }

    /// Reads the child's whole tool list (bounded in pages and time) into `catalog`. A child that
    /// does not answer in time keeps the catalog it had: validation is then skipped for the
    /// tools it does not know, never wrongly applied.
    func refreshCatalog(timeout: Duration) async {
        guard offers("tools") else { return }
        var tools: [[String: Any]] = []
        var cursor: String?
        for page in 1...20 {
            var params: [String: Any] = [:]
            if let cursor { params["cursor"] = cursor }
            guard let body = try? JSONSerialization.data(withJSONObject: [
                "jsonrpc": "2.0", "id": "fjmcp-tools-\(page)", "method": "tools/list", "params": params,
            ] as [String: Any]), let request = try? JSONRPCMessage(Array(body)),
                let result = await oneResult(of: request, timeout: timeout)
            else { return }
            tools += result["tools"] as? [[String: Any]] ?? []
            cursor = result["nextCursor"] as? String
            if cursor == nil { break }
        }
        catalog.replace(with: ToolHeaderCatalog.annotations(ofTools: tools))
    }

    /// Sends a broker-originated request and returns its `result`, cancelling it on the child
    /// when no answer arrives within `timeout`.
    func oneResult(of request: JSONRPCMessage, timeout: Duration) async -> [String: Any]? {
        guard let call = try? await bridge.send(request) else { return nil }
        guard let answer = await call.response(within: timeout) else {
            await bridge.cancel(call.ticket, reason: "no answer in time")
            return nil
        }
        return ((try? JSONSerialization.jsonObject(with: Data(answer))) as? [String: Any])?["result"] as? [String: Any]
    }

    /// A server→client request no modern request can take (none or several able to, or a
    /// capability the client did not declare) gets an answer right away instead of leaving
    /// the child waiting forever: `ping` succeeds, anything else is refused with `-32601`, what
    /// a legacy client without that capability answers, so the tool can continue or fail cleanly.
    func answerServerRequest(_ message: JSONRPCMessage) async {
        guard message.kind == .request, let rawID = message.rawID else { return }
        let answer: [UInt8] =
            if message.method == "ping" {
                Array(#"{"jsonrpc":"2.0","id":"#.utf8) + rawID + Array(#","result":{}}"#.utf8)
            } else {
                JSONRPCErrorResponse.make(
                    rawID: rawID, code: -32601,
                    message: "\(message.method ?? "request") is not available: the stateless MCP client did not declare the capability for it")
            }
        guard let reply = try? JSONRPCMessage(answer) else { return }
        _ = await bridge.deliverClientResponse(reply)
    }
}
