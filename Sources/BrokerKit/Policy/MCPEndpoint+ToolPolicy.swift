import Hummingbird

/// Where the tool policy meets the endpoints of both eras; each endpoint calls these at one
/// point, so the rules live here and not in the request paths.
extension ToolGate {
    /// The answer to a `tools/call` the policy refuses (legacy and session-less requests, batch
    /// elements); nil lets the message through untouched.
    func refusalAnswer(to message: JSONRPCMessage) -> [UInt8]? {
        guard let refusal = refusal(of: message), let rawID = message.rawID else { return nil }
        return Self.refusalResponse(rawID: rawID, tool: message.toolCallName, refusal: refusal)
    }

    /// The same for a 2026-07-28 request (its name was already read by `ModernRequest`).
    func refusalAnswer(to modern: ModernRequest) -> [UInt8]? {
        guard isActive, modern.method == "tools/call", let refusal = refusal(ofTool: modern.toolName) else { return nil }
        return Self.refusalResponse(rawID: modern.rawID, tool: modern.toolName, refusal: refusal)
    }

    /// What a request's final answer goes through: the list filter for `tools/list`, nothing
    /// for anything else (and nothing at all without a policy).
    func answerFilter(for method: String?) -> @Sendable (StreamSignal<BridgeEvent>) -> StreamSignal<BridgeEvent> {
        guard isActive, method == "tools/list" else { return { $0 } }
        return { [self] signal in
            guard case .item(.response(let bytes)) = signal else { return signal }
            return .item(.response(filterToolsList(bytes)))
        }
    }

    /// A final answer's bytes for `method` (batch replies, modern results).
    func filterAnswer(_ bytes: [UInt8], for method: String?) -> [UInt8] {
        isActive && method == "tools/list" ? filterToolsList(bytes) : bytes
    }
}
