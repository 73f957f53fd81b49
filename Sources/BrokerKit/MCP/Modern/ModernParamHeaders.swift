import Foundation
import HTTPTypes

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
