import Foundation

/// The one reading of a comma-separated setting (`FJMCP_ALLOWED_USERS`, `FJMCP_TOOLS_DENY`,
/// `FJMCP_CIMD_PORTS`, …), so every list accepts the same spelling: blanks around an entry are
/// not part of it, and empty entries (`a,,b`, a trailing comma) are ignored.
public enum CommaSeparated {
    public static func entries(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
