import Hummingbird
import NIOCore

/// Everything `/mcp` rejects, each with exactly one HTTP status and one JSON-RPC error. The body
/// is a JSON-RPC error (with the request's id when one is known), which every MCP client shows.
public enum MCPRequestError: Error, Sendable, HTTPResponseError {
    case hostNotAllowed(String)
    case originNotAllowed(String)
    case unsupportedMediaType
    case notAcceptable(String)
    case malformed(JSONRPCParseError)
    case sessionRequired
    case initializeWithSession
    case unsupportedProtocolVersion(String)
    case protocolVersionMismatch(sent: String, negotiated: String)
    case batchNotAllowed(version: String)
    case initializeInBatch
    /// `challenge` is the `WWW-Authenticate` value for a 401.
    case session(SessionError, rawID: [UInt8]?, challenge: String?)

    public var status: HTTPResponse.Status {
        switch self {
        case .hostNotAllowed: .misdirectedRequest
        case .originNotAllowed: .forbidden
        case .unsupportedMediaType: .unsupportedMediaType
        case .notAcceptable: .notAcceptable
        case .malformed, .sessionRequired, .initializeWithSession, .unsupportedProtocolVersion, .protocolVersionMismatch,
            .batchNotAllowed, .initializeInBatch:
            .badRequest
        case .session(let error, _, _): HTTPResponse.Status(code: error.httpStatus)
        }
    }

    public var code: Int {
        switch self {
        case .malformed(let error): error.code
        case .session(let error, _, _): error.rpcCode
        default: -32600
        }
    }

    public var message: String {
        switch self {
        case .hostNotAllowed(let host): "Host '\(host)' is not this server"
        case .originNotAllowed(let origin): "Origin '\(origin)' is not allowed"
        case .unsupportedMediaType: "Content-Type must be application/json"
        case .notAcceptable(let needed): "Accept must allow \(needed)"
        case .malformed(let error): "\(error.message): \(error.detail)"
        case .sessionRequired: "Bad Request: Mcp-Session-Id header is required (send initialize first)"
        case .initializeWithSession: "Bad Request: initialize must be sent without Mcp-Session-Id"
        case .unsupportedProtocolVersion(let version): "Bad Request: unsupported MCP-Protocol-Version '\(version)'"
        case .protocolVersionMismatch(let sent, let negotiated):
            "Bad Request: MCP-Protocol-Version '\(sent)' does not match the negotiated version '\(negotiated)'"
        case .batchNotAllowed(let version): "Invalid Request: JSON-RPC batches are not allowed in protocol version \(version)"
        case .initializeInBatch: "Invalid Request: initialize must not be part of a batch"
        case .session(let error, _, _): error.message
        }
    }

    /// The answer to a request the bridge did not send (`BridgeError`): a child gone for good
    /// (502), a live child not reading its input (503, try again), or a caller mistake (nil).
    static func unsent(_ error: BridgeError, rawID: [UInt8]?) -> MCPRequestError? {
        switch error {
        case .childGone: .session(.childStartFailed("the MCP server process exited"), rawID: rawID, challenge: nil)
        case .childBusy: .session(.childBusy, rawID: rawID, challenge: nil)
        case .notARequest, .notANotification: nil
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body: [UInt8]
        switch self {
        case .session(_, let rawID?, _): body = JSONRPCEnvelope.error(rawID: rawID, code: code, message: message)
        case .malformed(let error): body = JSONRPCEnvelope.error(code: code, message: "\(error.message): \(error.detail)")
        default: body = JSONRPCEnvelope.error(rawID: nil, code: code, message: message)
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        if case .session(_, _, let challenge?) = self { headers[.wwwAuthenticate] = challenge }
        if case .session(let error, _, _) = self, let seconds = error.retryAfter { headers[.retryAfter] = "\(seconds)" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
