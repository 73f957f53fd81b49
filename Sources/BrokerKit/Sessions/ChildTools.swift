import Foundation
import Synchronization

/// One tool argument a server asked clients to mirror into `Mcp-Param-{name}` (`x-mcp-header`
/// in its `inputSchema`, spec 2026-07-28 streamable-http §Custom Headers from Tool Parameters).
struct ParamHeader: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case string, integer, boolean
    }

    /// The chain of `properties` keys from the schema root to the argument.
    let path: [String]
    /// The `{name}` part of `Mcp-Param-{name}`, compared case-insensitively.
    let name: String
    let kind: Kind
}

/// What the broker knows of a shared child's tools: the arguments each asks clients to mirror in
/// `Mcp-Param-*` headers (`x-mcp-header`), so a 2026-07-28 `tools/call` can be checked against
/// its headers. Read from the child's `tools/list` when the child starts and
/// again after `notifications/tools/list_changed`; a tool the catalog does not know is not
/// checked (the child answers an unknown tool itself).
final class ChildTools: Sendable {
    private let tools = Mutex<[String: [ParamHeader]]>([:])

    func headers(forTool name: String) -> [ParamHeader] {
        tools.withLock { $0[name] ?? [] }
    }

    func replace(with catalog: [String: [ParamHeader]]) {
        tools.withLock { $0 = catalog }
    }

    /// The annotations of every tool in a `tools/list` result's `tools` array. Annotations the
    /// spec forbids (not reachable through `properties` only, on a non-primitive type, empty,
    /// not a token, duplicated) are skipped: the broker only checks what a conforming client
    /// would send.
    static func annotations(ofTools tools: [[String: Any]]) -> [String: [ParamHeader]] {
        var catalog: [String: [ParamHeader]] = [:]
        for tool in tools {
            guard let name = tool["name"] as? String, let schema = tool["inputSchema"] as? [String: Any] else { continue }
            var found: [ParamHeader] = []
            collect(schema, path: [], into: &found)
            var seen = Set<String>()
            let unique = found.filter { seen.insert($0.name.lowercased()).inserted }
            if unique.count == found.count, !unique.isEmpty { catalog[name] = unique }
        }
        return catalog
    }

    private static func collect(_ schema: [String: Any], path: [String], into found: inout [ParamHeader]) {
        guard let properties = schema["properties"] as? [String: Any] else { return }
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            guard let property = value as? [String: Any] else { continue }
            if let header = property["x-mcp-header"] as? String, isToken(header) {
                let kind: ParamHeader.Kind? =
                    switch property["type"] as? String {
                    case "string": .string
                    case "integer": .integer
                    case "boolean": .boolean
                    default: nil
                    }
                if let kind { found.append(ParamHeader(path: path + [key], name: header, kind: kind)) }
            }
            collect(property, path: path + [key], into: &found)
        }
    }

    /// RFC 9110 `tchar`: the only characters a header field name may contain.
    static func isToken(_ name: String) -> Bool {
        let extra = Set("!#$%&'*+-.^_`|~".utf8)
        return !name.isEmpty && name.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || extra.contains(byte)
        }
    }
}

