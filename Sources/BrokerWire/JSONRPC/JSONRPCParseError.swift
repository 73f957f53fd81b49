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
        JSONRPCEnvelope.error(code: code, message: message)
    }
}
