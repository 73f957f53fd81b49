import Foundation

/// Turns the legacy child's answers into 2026-07-28 results (the spec leaves gateway
/// translation to the implementer; see protocol notes §5.10). Only the modern path pays for the
/// JSON round trip; the id is spliced back byte for byte.
struct ModernResult: Sendable {
    let server: ChildServerInfo
    /// How long clients may reuse list/read results (a client that wants to hear changes
    /// sooner listens with `subscriptions/listen`).
    let cacheTTLMilliseconds: Int

    /// `server/discover`, answered from the pooled child's `initialize` result. Only modern
    /// versions are listed: this result tells a client what to put in per-request `_meta`.
    func discover(rawID: [UInt8]) -> [UInt8] {
        var result: [String: Any] = [
            "supportedVersions": [ModernProtocol.version],
            "capabilities": Self.modernCapabilities(server.capabilities),
        ]
        if let instructions = server.instructions { result["instructions"] = instructions }
        return complete(result, method: "server/discover", rawID: rawID)
    }

    /// The child's response to a forwarded request, rewritten for a modern client.
    func translate(_ response: [UInt8], method: String, rawID: [UInt8]) -> [UInt8] {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(response))) as? [String: Any] else { return response }
        if let error = object["error"] as? [String: Any] {
            // -32002 (resource not found) is reserved in 2026-07-28; the spec uses -32602 for it.
            var mapped = error
            if (error["code"] as? Int) == -32002 { mapped["code"] = -32602 }
            // Re-enveloped even when unchanged: after an MRTR retry the answer belongs to the
            // retry's id, not to the id of the request that started the child's call.
            return Self.envelope(rawID: rawID, error: mapped) ?? response
        }
        guard let result = object["result"] as? [String: Any] else { return response }
        return complete(result, method: method, rawID: rawID)
    }

    /// An MRTR interim result: the child's server→client request under `key`, and the sealed
    /// state the retry must echo. No caching hints (the spec forbids caching these).
    func inputRequired(key: String, inputRequest: [UInt8], requestState: String, rawID: [UInt8]) -> [UInt8] {
        var result: [String: Any] = [
            "resultType": "input_required", "requestState": requestState,
            "inputRequests": [key: (try? JSONSerialization.jsonObject(with: Data(inputRequest))) ?? [String: Any]()],
        ]
        if let info = server.serverInfo.flatMap({ try? JSONSerialization.jsonObject(with: $0) }) {
            result["_meta"] = [ModernProtocol.serverInfoKey: info]
        }
        return Self.envelope(rawID: rawID, result: result)
            ?? JSONRPCEnvelope.error(rawID: rawID, code: -32603, message: "the input request could not be encoded")
    }

    enum Outcome: Equatable {
        case result
        case error
        /// JSON-RPC "method not found", which 2026-07-28 answers with HTTP 404.
        case methodNotFound
    }

    /// What a final answer is, read with one parse.
    static func outcome(of response: [UInt8]) -> Outcome {
        guard let error = ((try? JSONSerialization.jsonObject(with: Data(response))) as? [String: Any])?["error"] else { return .result }
        return ((error as? [String: Any])?["code"] as? Int) == -32601 ? .methodNotFound : .error
    }

    private func complete(_ result: [String: Any], method: String, rawID: [UInt8]) -> [UInt8] {
        var result = result
        if result["resultType"] == nil { result["resultType"] = "complete" }
        if ModernProtocol.cacheableMethods.contains(method) {
            result["ttlMs"] = cacheTTLMilliseconds
            // One child per user: its answers are only valid in this user's authorization context.
            result["cacheScope"] = "private"
        }
        if let info = server.serverInfo.flatMap({ try? JSONSerialization.jsonObject(with: $0) }) {
            var meta = result["_meta"] as? [String: Any] ?? [:]
            meta[ModernProtocol.serverInfoKey] = info
            result["_meta"] = meta
        }
        return Self.envelope(rawID: rawID, result: result)
            ?? JSONRPCEnvelope.error(rawID: rawID, code: -32603, message: "the MCP server's result could not be encoded")
    }

    /// The child's capabilities as they are: its `listChanged` and `subscribe` flags hold for
    /// modern clients too, since `subscriptions/listen` delivers exactly those notifications
    /// (and maps resource subscriptions onto the child's `resources/subscribe`).
    static func modernCapabilities(_ encoded: Data) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: encoded)) as? [String: Any] ?? [:]
    }

    private static func envelope(rawID: [UInt8], result: [String: Any]) -> [UInt8]? {
        encoded(result).map { JSONRPCEnvelope.result(rawID: rawID, result: $0) }
    }

    private static func envelope(rawID: [UInt8], error: [String: Any]) -> [UInt8]? {
        encoded(error).map { JSONRPCEnvelope.error(rawID: rawID, object: $0) }
    }

    private static func encoded(_ object: [String: Any]) -> [UInt8]? {
        (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])).map(Array.init)
    }
}
