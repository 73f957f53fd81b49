import Foundation
import HTTPTypes
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

/// What each of the pooled child's tools declares with `x-mcp-header`, so a `tools/call` can be
/// checked against its headers. Read from the child's `tools/list` when the child starts and
/// again after `notifications/tools/list_changed`; a tool the catalog does not know is not
/// checked (the child answers an unknown tool itself).
final class ToolHeaderCatalog: Sendable {
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

enum ModernParamValidation {
    /// Checks every `x-mcp-header` argument of a `tools/call` against its `Mcp-Param-*` header:
    /// a value in the body needs its header, the header (base64-decoded when sent as
    /// `=?base64?…?=`) must equal the body value (integers compared as numbers), and a header
    /// whose argument is absent or null contradicts the body. Unknown `Mcp-Param-*` headers are
    /// ignored, as the spec requires of anything that does not recognise them.
    static func validate(arguments: Any?, headers: HTTPFields, declared: [ParamHeader]) throws(ModernRequestError.Kind) {
        for param in declared {
            let fieldName = "Mcp-Param-" + param.name
            let value = Self.value(at: param.path, in: arguments)
            guard let headerName = HTTPField.Name(fieldName) else { continue }
            let header = headers[headerName]
            guard let value, !(value is NSNull) else {
                if header != nil { throw .headerMismatch("\(fieldName) is sent but the argument is absent or null") }
                continue
            }
            guard let header else { throw .headerMismatch("\(fieldName) is required: the argument is in the body") }
            guard let decoded = ModernRequest.decodeHeaderValue(header) else {
                throw .headerMismatch("\(fieldName) contains invalid characters or invalid base64")
            }
            guard matches(decoded, value, kind: param.kind) else {
                throw .headerMismatch("\(fieldName) does not match the argument in the body")
            }
        }
    }

    private static func value(at path: [String], in arguments: Any?) -> Any? {
        var current = arguments
        for key in path {
            guard let object = current as? [String: Any] else { return nil }
            current = object[key]
        }
        return current
    }

    private static func matches(_ header: String, _ value: Any, kind: ParamHeader.Kind) -> Bool {
        switch kind {
        case .string:
            guard let string = value as? String else { return false }
            return header == string
        case .integer:
            // JSONSerialization yields NSNumber; booleans are NSNumbers too and must not pass.
            guard let number = value as? NSNumber, !isBoolean(number), let headerValue = Int64(header) else { return false }
            let double = number.doubleValue
            return double == double.rounded() && Int64(exactly: double) == headerValue
        case .boolean:
            guard let number = value as? NSNumber, isBoolean(number) else { return false }
            return header == (number.boolValue ? "true" : "false")
        }
    }

    /// JSONSerialization gives JSON booleans as NSNumbers of ObjC type `c` (numbers parse as
    /// `q` or `d`), on Linux as on Darwin.
    private static func isBoolean(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }
}
