import Hummingbird

/// Where the tool policy meets the endpoints of both eras; each endpoint calls these at one
/// point, so the rules live here and not in the request paths.
extension ToolGate {
    /// The answer to a `tools/call` the policy refuses (legacy and session-less requests, batch
    /// elements) and the refusing setting; nil lets the message through untouched.
    func refusalAnswer(to message: JSONRPCMessage) -> (answer: [UInt8], setting: String)? {
        guard isActive, message.kind == .request, message.method == "tools/call", let rawID = message.rawID else { return nil }
        // Read once: the decision and the answer name the same tool.
        let tool = message.toolCallName
        guard let refusal = refusal(ofTool: tool) else { return nil }
        return (Self.refusalResponse(rawID: rawID, tool: tool, refusal: refusal), refusal.setting)
    }

    /// The same for a 2026-07-28 request (its name was already read by `ModernRequest`).
    func refusalAnswer(to modern: ModernRequest) -> (answer: [UInt8], setting: String)? {
        guard isActive, modern.method == "tools/call", let refusal = refusal(ofTool: modern.toolName) else { return nil }
        return (Self.refusalResponse(rawID: modern.rawID, tool: modern.toolName, refusal: refusal), refusal.setting)
    }

    /// A final answer's bytes for `method` (batch replies, modern results); `requestID` is the
    /// request's raw id, for the error that replaces an unreadable list.
    func filterAnswer(_ bytes: [UInt8], for method: String?, requestID: [UInt8]? = nil) -> [UInt8] {
        isActive && method == "tools/list" ? filterToolsList(bytes, requestID: requestID) : bytes
    }
}

extension MCPEndpoint {
    /// A refused `tools/call`'s answer, with its audit record; nil lets the message through.
    func refusal(of message: JSONRPCMessage, owner: SessionOwner) -> [UInt8]? {
        guard let refused = tools.refusalAnswer(to: message) else { return nil }
        ToolCallAudit.start(audit, message, owner: owner)?.refused(by: refused.setting)
        return refused.answer
    }

    /// What a call's final answer goes through on its way out: the list filter for
    /// `tools/list`, the audit record for `tools/call`; side messages pass untouched. Without a
    /// policy and an audit sink, nothing at all.
    func finalAnswer(for message: JSONRPCMessage, audit audited: ToolCallAudit?)
        -> @Sendable (StreamSignal<BridgeEvent>) -> StreamSignal<BridgeEvent>
    {
        let filters = tools.isActive && message.method == "tools/list"
        guard filters || audited != nil else { return { $0 } }
        return { [tools] signal in
            guard case .item(.response(let bytes)) = signal else { return signal }
            audited?.answered(bytes)
            return filters ? .item(.response(tools.filterToolsList(bytes, requestID: message.rawID))) : signal
        }
    }
}

extension ModernEndpoint {
    /// A refused 2026-07-28 `tools/call`'s answer, with its audit record.
    func refusal(of modern: ModernRequest, owner: SessionOwner) -> [UInt8]? {
        guard let refused = tools.refusalAnswer(to: modern) else { return nil }
        ToolCallAudit.start(audit, modern, owner: owner)?.refused(by: refused.setting)
        return refused.answer
    }
}
