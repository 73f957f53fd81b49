/// A JSON-RPC id as a dictionary key. Ids are compared by value, but the bridge always restores
/// the original raw bytes, so a client gets back exactly what it sent (e.g. `1.0` stays `1.0`).
public enum JSONRPCID: Hashable, Sendable, CustomStringConvertible {
    case int(Int64)
    case string(String)
    /// A non-integer number, kept as written.
    case number(String)
    case null

    /// Canonical JSON for ids the broker mints itself.
    public var jsonBytes: [UInt8] {
        switch self {
        case .int(let value): Array(String(value).utf8)
        case .string(let value): JSONRPCID.encodeString(value)
        case .number(let text): Array(text.utf8)
        case .null: Array("null".utf8)
        }
    }

    public var description: String {
        String(decoding: jsonBytes, as: UTF8.self)
    }

    /// Parses an id from a validated JSON value; nil for values that cannot be ids.
    package static func parse(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> JSONRPCID? {
        guard let first = range.first.map({ bytes[$0] }) else { return nil }
        switch first {
        case UInt8(ascii: "\""):
            return .string(JSONScanner.decodeString(bytes, range.lowerBound + 1..<range.upperBound - 1))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            return Int64(text).map(JSONRPCID.int) ?? .number(text)
        case UInt8(ascii: "n"):
            return .null
        default:
            return nil
        }
    }

    package static func encodeString(_ value: String) -> [UInt8] {
        var output: [UInt8] = [UInt8(ascii: "\"")]
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): output += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: output += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: output += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: output += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                output += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
        return output
    }
}
