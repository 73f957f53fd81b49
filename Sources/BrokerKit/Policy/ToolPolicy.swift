/// Which tools the broker lets clients see and call (`FJMCP_TOOLS_ALLOW`, `FJMCP_TOOLS_DENY`,
/// `FJMCP_READ_ONLY`). Pure: the decision depends only on the tool's name and what its
/// annotations say, so it is the same on every era and in every test.
public struct ToolPolicy: Sendable, Equatable {
    /// Empty: every tool (that no other rule refuses).
    public var allow: [ToolNamePattern] = []
    public var deny: [ToolNamePattern] = []
    public var readOnly = false

    public init(allow: [ToolNamePattern] = [], deny: [ToolNamePattern] = [], readOnly: Bool = false) {
        self.allow = allow
        self.deny = deny
        self.readOnly = readOnly
    }

    /// Nothing configured: the endpoints skip the policy entirely (no per-request work).
    public var isUnrestricted: Bool { allow.isEmpty && deny.isEmpty && !readOnly }

    /// Why a tool is refused: the setting that refuses it, and the entry when it is a pattern.
    public struct Refusal: Sendable, Equatable, CustomStringConvertible {
        /// The environment name of the refusing setting, e.g. `FJMCP_TOOLS_DENY`.
        public let setting: String
        public let detail: String

        public var description: String { "\(setting): \(detail)" }
    }

    /// Deny wins over allow; the read-only preset applies on top of both. A tool name that
    /// could not be read (`nil`) is refused whenever any rule is configured: fail closed.
    public func refusal(of tool: String?, safety: ToolSafety) -> Refusal? {
        guard !isUnrestricted else { return nil }
        guard let tool else {
            let configured = [(!deny.isEmpty, Setting.toolsDeny), (!allow.isEmpty, Setting.toolsAllow), (readOnly, Setting.readOnly)]
            return Refusal(setting: configured.filter(\.0).map(\.1.env).joined(separator: ","), detail: "params.name is not a string")
        }
        if let pattern = deny.first(where: { $0.matches(tool) }) {
            return Refusal(setting: Setting.toolsDeny.env, detail: "matches '\(pattern)'")
        }
        if !allow.isEmpty, !allow.contains(where: { $0.matches(tool) }) {
            return Refusal(setting: Setting.toolsAllow.env, detail: "matches no allowed pattern")
        }
        if readOnly, !Self.isReadOnly(tool, safety: safety) {
            return Refusal(setting: Setting.readOnly.env, detail: safety == .notReadOnly
                ? "its annotations do not say readOnlyHint: true" : "not annotated read-only and not a read-only name (get_*, list_*, search_*, download_*, check_*)")
        }
        return nil
    }

    /// `readOnlyHint: true` passes; meaningful annotations that do not say so refuse; without
    /// annotations only forgejo-mcp's read-only names pass.
    static func isReadOnly(_ tool: String, safety: ToolSafety) -> Bool {
        switch safety {
        case .readOnly: true
        case .notReadOnly: false
        case .unannotated: ToolSafety.readOnlyNamePatterns.contains { $0.matches(tool) }
        }
    }
}
