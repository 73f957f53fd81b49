import Foundation

extension Setting {
    public static let toolsAllow = Setting("FJMCP_TOOLS_ALLOW", default: "", help: "Tools clients may see and call, comma-separated name globs (* any run, ? one character); empty allows every tool not otherwise refused.")
    public static let toolsDeny = Setting("FJMCP_TOOLS_DENY", default: "", help: "Tools hidden and refused, comma-separated name globs; deny wins over allow.")
    public static let readOnly = Setting("FJMCP_READ_ONLY", default: "false", help: "true: only tools annotated readOnlyHint: true, or unannotated tools named get_*, list_*, search_*, download_* or check_* (forgejo-mcp's read-only tools); every other tool is hidden and refused.")
}

extension ToolPolicy {
    /// Reads the three settings, adding one line per problem (every bad pattern named).
    static func load(from source: ConfigSource, problems: inout [String]) -> ToolPolicy? {
        var policy = ToolPolicy()
        var valid = true
        for (setting, keyPath) in [(Setting.toolsAllow, \ToolPolicy.allow), (Setting.toolsDeny, \ToolPolicy.deny)] {
            switch ToolNamePattern.list(source.value(setting) ?? "") {
            case .success(let patterns): policy[keyPath: keyPath] = patterns
            case .failure(let error):
                problems.append("\(setting.env) is invalid: \(error)")
                valid = false
            }
        }
        switch (source.value(.readOnly) ?? "false").trimmingCharacters(in: .whitespaces).lowercased() {
        case "true": policy.readOnly = true
        case "false", "": policy.readOnly = false
        case let other:
            problems.append("\(Setting.readOnly.env)=\(other) is invalid: expected true or false")
            valid = false
        }
        return valid ? policy : nil
    }
}
