/// Why bytes are not a usable JSON-RPC message. Each case is exactly one JSON-RPC error code.
public enum JSONRPCParseError: Error, Equatable, Sendable {
    /// Not JSON at all: -32700.
    case parseError(String)
    /// JSON, but not a JSON-RPC 2.0 message: -32600.
    case invalidRequest(String)

    public var code: Int {
        switch self {
        case .parseError: -32700
        case .invalidRequest: -32600
        }
    }

    public var message: String {
        switch self {
        case .parseError: "Parse error"
        case .invalidRequest: "Invalid Request"
        }
    }

    public var detail: String {
        switch self {
        case .parseError(let detail), .invalidRequest(let detail): detail
        }
    }

    /// The error response to send back; the id is null because a malformed message has none we trust.
    public var response: [UInt8] {
        JSONRPCErrorResponse.make(rawID: Array("null".utf8), code: code, message: message)
    }
}

/// Builds error responses without a JSON encoder: only the id and a fixed message vary.
public enum JSONRPCErrorResponse {
    public static func make(rawID: [UInt8], code: Int, message: String) -> [UInt8] {
        Array(#"{"jsonrpc":"2.0","id":"#.utf8) + rawID + Array(#","error":{"code":\#(code),"message":"#.utf8)
            + JSONRPCID.encodeString(message) + Array("}}".utf8)
    }
}

extension JSONRPCErrorResponse {
    /// An error about the HTTP request as a whole (bad header, bad Origin), which has no
    /// message id to echo; the MCP transport allows such a body without `id`.
    public static func make(code: Int, message: String) -> [UInt8] {
        Array(#"{"jsonrpc":"2.0","error":{"code":\#(code),"message":"#.utf8) + JSONRPCID.encodeString(message) + Array("}}".utf8)
    }
}
