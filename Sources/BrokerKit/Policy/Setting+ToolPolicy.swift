import Foundation

extension Setting {
    public static let toolsAllow = Setting("FJMCP_TOOLS_ALLOW", default: "", help: "Tools clients may see and call, comma-separated name globs (* any run, ? one character); empty allows every tool not otherwise refused.")
    public static let toolsDeny = Setting("FJMCP_TOOLS_DENY", default: "", help: "Tools hidden and refused, comma-separated name globs; deny wins over allow.")
    public static let readOnly = Setting("FJMCP_READ_ONLY", default: "false", help: "true: only tools annotated readOnlyHint: true, or unannotated tools named get_*, list_*, search_*, download_* or check_* (forgejo-mcp's read-only tools); every other tool is hidden and refused.")
}

extension ConfigReader {
    /// The three tool settings; nil after recording a problem (every bad pattern named).
    mutating func toolPolicy() -> ToolPolicy? {
        let allow = toolPatterns(.toolsAllow)
        let deny = toolPatterns(.toolsDeny)
        let readOnly = parse(.readOnly) { Bool($0.lowercased()) } hint: { "expected true or false" }
        guard let allow, let deny, let readOnly else { return nil }
        return ToolPolicy(allow: allow, deny: deny, readOnly: readOnly)
    }

    private mutating func toolPatterns(_ setting: Setting) -> [ToolNamePattern]? {
        switch ToolNamePattern.list(string(setting) ?? "") {
        case .success(let patterns): return patterns
        case .failure(let error):
            problems.append("\(setting.env) is invalid: \(error)")
            return nil
        }
    }
}
