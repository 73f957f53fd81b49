import Foundation

/// One `FJMCP_TOOLS_ALLOW` / `FJMCP_TOOLS_DENY` entry: a tool name glob where `*` matches any run
/// of characters (also none) and `?` exactly one. Nothing else is special: character classes
/// and braces are refused at startup rather than silently matched literally, so an operator
/// who writes `[a-z]*` learns at once that it does not do what a shell would.
public struct ToolNamePattern: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    private let scalars: [Unicode.Scalar]

    /// Why a pattern is refused (one line for `check-config`).
    public enum Invalid: Error, Equatable, CustomStringConvertible {
        case empty
        case character(Character)

        public var description: String {
            switch self {
            case .empty: "an empty pattern"
            case .character(let character):
                "'\(character)' is not allowed (tool names use letters, digits, '_', '-', '.', '/'; wildcards are '*' and '?')"
            }
        }
    }

    /// The characters MCP allows in tool names (2025-11-25: `A-Z a-z 0-9 _ - .`), `/` which some
    /// servers use for namespacing, and the two wildcards.
    private static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "_", "-", ".", "/", "*", "?": true
        default: false
        }
    }

    public init(_ text: String) throws(Invalid) {
        guard !text.isEmpty else { throw .empty }
        if let bad = text.unicodeScalars.first(where: { !Self.isAllowed($0) }) { throw .character(Character(bad)) }
        self.text = text
        scalars = Array(text.unicodeScalars)
    }

    public var description: String { text }

    /// Case-sensitive, like tool names themselves. Iterative with one backtrack point per `*`
    /// seen last, so a pattern of many stars costs O(pattern × name), never exponential time.
    public func matches(_ name: String) -> Bool {
        let name = Array(name.unicodeScalars)
        var p = 0, n = 0
        var star: (pattern: Int, name: Int)?
        while n < name.count {
            if p < scalars.count, scalars[p] == "?" || scalars[p] == name[n] && scalars[p] != "*" {
                p += 1
                n += 1
            } else if p < scalars.count, scalars[p] == "*" {
                star = (p, n)
                p += 1
            } else if let last = star {
                p = last.pattern + 1
                n = last.name + 1
                star = (last.pattern, last.name + 1)
            } else {
                return false
            }
        }
        while p < scalars.count, scalars[p] == "*" { p += 1 }
        return p == scalars.count
    }

    /// A comma-separated list; blanks around entries and empty entries are ignored. All invalid
    /// entries are reported, each with its text.
    public static func list(_ text: String) -> Result<[ToolNamePattern], ToolPatternListError> {
        var patterns: [ToolNamePattern] = []
        var problems: [String] = []
        for entry in CommaSeparated.entries(text) {
            do {
                patterns.append(try ToolNamePattern(entry))
            } catch {
                problems.append("'\(entry)': \(error)")
            }
        }
        return problems.isEmpty ? .success(patterns) : .failure(ToolPatternListError(problems: problems))
    }
}

/// Every invalid entry of one pattern list.
public struct ToolPatternListError: Error, Equatable, CustomStringConvertible {
    public let problems: [String]
    public var description: String { problems.joined(separator: "; ") }
}
