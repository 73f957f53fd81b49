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

    /// Modern clients never receive server→client requests (no MRTR in this slice), so the
    /// child gets an answer right away instead of waiting forever: `ping` succeeds, anything
    /// else (elicitation, sampling, roots) is refused so the tool can fail cleanly.
    func answerServerRequest(_ message: JSONRPCMessage) async {
        guard message.kind == .request, let rawID = message.rawID else { return }
        let answer: [UInt8] =
            if message.method == "ping" {
                Array(#"{"jsonrpc":"2.0","id":"#.utf8) + rawID + Array(#","result":{}}"#.utf8)
            } else {
                JSONRPCErrorResponse.make(
                    rawID: rawID, code: -32601,
                    message: "\(message.method ?? "request") is not available: the client uses the stateless MCP era")
            }
        guard let reply = try? JSONRPCMessage(answer) else { return }
        _ = await bridge.deliverClientResponse(reply)
    }
}
