import Synchronization

/// The audit record of one `tools/call` in flight: created when the request arrives, written
/// once, by whichever comes first of its final answer and its cancellation. Nil (no work at
/// all) for other methods and when the trail has no sink.
final class ToolCallAudit: Sendable {
    private let trail: AuditTrail
    private let owner: SessionOwner
    private let tool: String?
    private let requestID: String?
    private let started = ContinuousClock.now
    private let written = Atomic(false)

    private init(trail: AuditTrail, owner: SessionOwner, tool: String?, requestID: String?) {
        self.trail = trail
        self.owner = owner
        self.tool = tool
        self.requestID = requestID
    }

    /// For a legacy or session-less message.
    static func start(_ trail: AuditTrail?, _ message: JSONRPCMessage, owner: SessionOwner) -> ToolCallAudit? {
        guard let trail, trail.isEnabled, message.kind == .request, message.method == "tools/call" else { return nil }
        return ToolCallAudit(trail: trail, owner: owner, tool: message.toolCallName,
                             requestID: message.rawID.map { String(decoding: $0, as: UTF8.self) })
    }

    /// For a 2026-07-28 request.
    static func start(_ trail: AuditTrail?, _ modern: ModernRequest, owner: SessionOwner) -> ToolCallAudit? {
        guard let trail, trail.isEnabled, modern.method == "tools/call" else { return nil }
        return ToolCallAudit(trail: trail, owner: owner, tool: modern.toolName, requestID: String(decoding: modern.rawID, as: UTF8.self))
    }

    /// The final answer went out (`ok`, or `error` for a JSON-RPC error or an `isError` result).
    func answered(_ answer: [UInt8]) {
        finish(outcome: AuditRecord.toolOutcome(of: answer), detail: nil)
    }

    /// The client went away before the answer.
    func cancelled() {
        finish(outcome: "cancelled", detail: nil)
    }

    /// The request could not be handed to the child (it exited and no new one could be started).
    func failed() {
        finish(outcome: "error", detail: "not_delivered")
    }

    /// The tool policy answered instead of the child; `detail` names the refusing setting.
    func refused(by setting: String) {
        finish(outcome: "policy_refused", detail: setting)
    }

    private func finish(outcome: String, detail: String?) {
        guard !written.exchange(true, ordering: .relaxed) else { return }
        let duration = ContinuousClock.now - started
        let milliseconds = Int(duration.components.seconds * 1_000 + duration.components.attoseconds / 1_000_000_000_000_000)
        trail.record(AuditRecord(event: .toolCall, user: owner.login, client: owner.clientID, tool: tool, durationMs: milliseconds,
                                 outcome: outcome, requestID: requestID, detail: detail))
    }
}
