import Foundation
import Synchronization

/// The tool policy at work on `/mcp`, the same on both eras: a `tools/call` for a refused tool
/// is answered here and never reaches the child, and `tools/list` results lose the tools the
/// policy refuses. `notifications/tools/list_changed` is not touched: the client then lists
/// again and gets a filtered list.
///
/// The read-only preset needs a tool's annotations, which only `tools/list` carries; they are
/// remembered from every list that passes through (all children run the same MCP server, so
/// a tool's annotations do not depend on whose child listed it). A call to a tool no list has
/// shown yet is judged as unannotated: by forgejo-mcp's read-only names.
public final class ToolGate: Sendable {
    public let policy: ToolPolicy
    private let safety = Mutex<[String: ToolSafety]>([:])

    public init(policy: ToolPolicy) {
        self.policy = policy
    }

    /// Nothing configured: endpoints skip every check.
    public var isActive: Bool { !policy.isUnrestricted }

    func refusal(ofTool name: String?) -> ToolPolicy.Refusal? {
        guard isActive else { return nil }
        let known = policy.readOnly ? name.flatMap { name in safety.withLock { $0[name] } } : nil
        return policy.refusal(of: name, safety: known ?? .unannotated)
    }

    /// The JSON-RPC error a refused call gets: -32602, as MCP answers a call for an unknown
    /// tool, with the refusing setting in the message and in `data.policy`.
    static func refusalResponse(rawID: [UInt8], tool: String?, refusal: ToolPolicy.Refusal) -> [UInt8] {
        let shown = tool.map { "'\($0)'" } ?? "without a name"
        var data: [String: String] = ["policy": refusal.setting, "reason": refusal.detail]
        if let tool { data["tool"] = tool }
        let encoded = (try? JSONSerialization.data(withJSONObject: data, options: [.sortedKeys, .withoutEscapingSlashes])).map(Array.init)
        return JSONRPCEnvelope.error(rawID: rawID, code: -32602,
                                     message: "Tool \(shown) is not allowed by this server's tool policy (\(refusal))", data: encoded)
    }

    /// A child's answer to `tools/list` without the refused tools. `tools/list` is not the hot
    /// path (a client lists once per conversation and after `list_changed`) and its tools need
    /// their annotations read anyway, so the result is decoded and, only when a tool was
    /// removed, re-encoded; the id is spliced back byte for byte. An error answer passes as it
    /// is; an answer that cannot be read, even as JSON-RPC, is replaced by an error (fail
    /// closed: it might hold refused tools), for the answer's id, else `requestID`, else null.
    func filterToolsList(_ response: [UInt8], requestID: [UInt8]? = nil) -> [UInt8] {
        guard isActive else { return response }
        let message = try? JSONRPCMessage(response)
        if message?.kind == .errorResponse { return response }
        guard let message, let rawID = message.rawID,
              let object = (try? JSONSerialization.jsonObject(with: Data(response))) as? [String: Any],
              var result = object["result"] as? [String: Any], let tools = result["tools"] as? [[String: Any]]
        else {
            return JSONRPCEnvelope.error(rawID: message?.rawID ?? requestID ?? Array("null".utf8), code: -32603,
                                         message: "the MCP server's tool list could not be read, so it cannot be filtered")
        }
        var learned: [String: ToolSafety] = [:]
        let kept = tools.filter { tool in
            guard let name = tool["name"] as? String else { return false }
            let safety = ToolSafety.classify(annotations: tool["annotations"])
            learned[name] = safety
            return policy.refusal(of: name, safety: safety) == nil
        }
        safety.withLock { $0.merge(learned) { _, new in new } }
        guard kept.count != tools.count else { return response }
        result["tools"] = kept
        guard let encoded = try? JSONSerialization.data(withJSONObject: result, options: [.withoutEscapingSlashes]) else {
            return JSONRPCEnvelope.error(rawID: rawID, code: -32603, message: "the filtered tool list could not be encoded")
        }
        return JSONRPCEnvelope.result(rawID: rawID, result: Array(encoded))
    }
}
