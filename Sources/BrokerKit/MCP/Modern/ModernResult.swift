import Foundation

/// Turns the legacy child's answers into 2026-07-28 results (the spec leaves gateway
/// translation to the implementer; see protocol notes §5.10). Answers are rewritten on their
/// bytes (`JSONObjectView`/`JSONObjectWriter`): the child's members pass as written, only the
/// id, `resultType`, the caching hints and `_meta`'s server info are spliced in.
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
        guard let encoded = Self.encoded(result), let view = JSONObjectView(encoded) else {
            return JSONRPCEnvelope.error(rawID: rawID, code: -32603, message: "the discovery result could not be encoded")
        }
        return complete(view, method: "server/discover", rawID: rawID)
    }

    /// The child's response to a forwarded request, rewritten for a modern client.
    func translate(_ response: [UInt8], method: String, rawID: [UInt8]) -> [UInt8] {
        guard let answer = JSONObjectView(response) else { return response }
        if let error = answer.object("error") {
            // -32002 (resource not found) is reserved in 2026-07-28; the spec uses -32602 for it.
            // Re-enveloped even when unchanged: after an MRTR retry the answer belongs to the
            // retry's id, not to the id of the request that started the child's call.
            var mapped = Array(response[error.range])
            if let code = error.member("code"), error.number("code", equals: -32002) {
                let offset = error.range.lowerBound
                mapped.replaceSubrange(code.value.lowerBound - offset..<code.value.upperBound - offset, with: "-32602".utf8)
            }
            return JSONRPCEnvelope.error(rawID: rawID, object: mapped)
        }
        guard let result = answer.object("result") else { return response }
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
        return Self.encoded(result).map { JSONRPCEnvelope.result(rawID: rawID, result: $0) }
            ?? JSONRPCEnvelope.error(rawID: rawID, code: -32603, message: "the input request could not be encoded")
    }

    enum Outcome: Equatable {
        case result
        case error
        /// JSON-RPC "method not found", which 2026-07-28 answers with HTTP 404.
        case methodNotFound
    }

    /// What a final answer is, read with the byte scanner.
    static func outcome(of response: [UInt8]) -> Outcome {
        guard let answer = JSONObjectView(response), answer["error"] != nil else { return .result }
        return answer.object("error")?.number("code", equals: -32601) == true ? .methodNotFound : .error
    }

    /// The result with `resultType` (unless the child set one), the caching hints of a
    /// cacheable method (replacing the child's) and the child's `serverInfo` in `_meta` (next
    /// to the child's own `_meta` members).
    private func complete(_ result: JSONObjectView, method: String, rawID: [UInt8]) -> [UInt8] {
        let cacheable = ModernProtocol.cacheableMethods.contains(method)
        let serverInfo = server.serverInfo.map(Array.init)
        var rewritten = JSONObjectWriter(reservingCapacity: result.range.count + 128)
        var meta = JSONObjectWriter()
        for member in result.members {
            switch result.name(of: member) {
            case "ttlMs" where cacheable, "cacheScope" where cacheable:
                continue
            case "_meta" where serverInfo != nil:
                guard let childMeta = JSONObjectView(result.bytes, member.value) else { continue }
                for inner in childMeta.members where childMeta.name(of: inner) != ModernProtocol.serverInfoKey {
                    meta.copy(inner, of: childMeta)
                }
            default:
                rewritten.copy(member, of: result)
            }
        }
        if result["resultType"] == nil { rewritten.add("resultType", raw: Array(#""complete""#.utf8)) }
        if cacheable {
            rewritten.add("ttlMs", raw: Array(String(cacheTTLMilliseconds).utf8))
            // One child per user: its answers are only valid in this user's authorization context.
            rewritten.add("cacheScope", raw: Array(#""private""#.utf8))
        }
        if let serverInfo {
            meta.add(ModernProtocol.serverInfoKey, raw: serverInfo)
            rewritten.add("_meta", raw: meta.finished())
        }
        return JSONRPCEnvelope.result(rawID: rawID, result: rewritten.finished())
    }

    /// The child's capabilities as they are: its `listChanged` and `subscribe` flags hold for
    /// modern clients too, since `subscriptions/listen` delivers exactly those notifications
    /// (and maps resource subscriptions onto the child's `resources/subscribe`).
    static func modernCapabilities(_ encoded: Data) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: encoded)) as? [String: Any] ?? [:]
    }

    private static func encoded(_ object: [String: Any]) -> [UInt8]? {
        (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])).map(Array.init)
    }
}
