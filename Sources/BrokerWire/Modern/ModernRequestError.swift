/// Every rejection of a 2026-07-28 request. Each is a well-formed JSON-RPC error with a code
/// from the modern spec, because a dual-era client decides between eras by whether a `400`
/// carries a recognised modern error (an unrecognised body makes it fall back to `initialize`).
package struct ModernRequestError: Error, Sendable {
    package enum Kind: Error, Sendable, Equatable {
        /// A required header is missing, invalid or differs from the body (`-32020`).
        case headerMismatch(String)
        /// `-32022`; `data` names what the broker speaks so the client can retry.
        case unsupportedVersion(requested: String)
        /// Missing or malformed required `_meta` (or params) (`-32602`).
        case invalidParams(String)
        /// `404` + `-32601`: the body tells it apart from a legacy HTTP+SSE 404.
        case methodNotFound(String)
        /// Not a request the modern transport accepts (e.g. a response) (`-32600`).
        case invalidRequest(String)
        /// `-32021`: the request cannot go on without a client capability it did not declare;
        /// the associated value is the JSON `ClientCapabilities` object for `data.requiredCapabilities`.
        case missingCapability([UInt8])
    }

    package let kind: Kind
    /// The request's id as written; nil when there is none to echo.
    package let rawID: [UInt8]?

    package init(_ kind: Kind, rawID: [UInt8]?) {
        self.kind = kind
        self.rawID = rawID
    }

    /// `404` for an unknown method (the body tells it apart from a legacy HTTP+SSE 404), else `400`.
    package var isNotFound: Bool {
        if case .methodNotFound = kind { return true }
        return false
    }

    package var code: Int {
        switch kind {
        case .headerMismatch: -32020
        case .unsupportedVersion: -32022
        case .invalidParams: -32602
        case .methodNotFound: -32601
        case .invalidRequest: -32600
        case .missingCapability: -32021
        }
    }

    package var message: String {
        switch kind {
        case .headerMismatch(let detail): "Header mismatch: \(detail)"
        case .unsupportedVersion: "Unsupported protocol version"
        case .invalidParams(let detail): "Invalid params: \(detail)"
        case .methodNotFound(let method): "Method not found: \(method)"
        case .invalidRequest(let detail): "Invalid Request: \(detail)"
        case .missingCapability: "Missing required client capability"
        }
    }

    package var body: [UInt8] {
        JSONRPCEnvelope.error(rawID: rawID ?? Array("null".utf8), code: code, message: message, data: data)
    }

    /// The error's `data` member: what a client needs to recover (supported versions, the
    /// capabilities to declare), raw JSON.
    private var data: [UInt8]? {
        switch kind {
        case .unsupportedVersion(let requested):
            let supported = ModernProtocol.advertisedVersions.map(JSONRPCID.encodeString).joined(separator: Array(",".utf8))
            return Array(#"{"supported":["#.utf8) + Array(supported) + Array(#"],"requested":"#.utf8) + JSONRPCID.encodeString(requested)
                + Array("}".utf8)
        case .missingCapability(let required):
            return Array(#"{"requiredCapabilities":"#.utf8) + required + Array("}".utf8)
        default:
            return nil
        }
    }
}
