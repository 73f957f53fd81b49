import Hummingbird

/// A rejected `/mcp` request. Always 401 with the RFC 9728 `resource_metadata` pointer so that
/// MCP clients can start (or restart) discovery; `error="invalid_token"` only when a token was
/// presented (RFC 6750 §3.1: no error code when credentials are simply missing).
public struct BearerError: Error, Sendable, Equatable, HTTPResponseError {
    public enum Kind: String, Sendable {
        case missing = "token_missing"
        case malformed = "token_malformed"
        case unknown = "token_unknown"
        case expired = "token_expired"
        case wrongAudience = "token_wrong_audience"
        /// The store could not be asked: 503, because a 401 would make clients drop good tokens.
        case unavailable = "token_store_unavailable"
    }

    public let kind: Kind
    public let resourceMetadataURL: String

    public var status: HTTPResponse.Status { kind == .unavailable ? .serviceUnavailable : .unauthorized }

    public var challenge: String {
        var value = "Bearer resource_metadata=\"\(resourceMetadataURL)\""
        if kind != .missing {
            value += ", error=\"invalid_token\", error_description=\"the access token is invalid or expired\""
        }
        return value
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        if kind == .unavailable {
            return JSONResponse.make(status: status, object: ["error": "temporarily_unavailable", "error_description": "try again shortly"],
                                     headers: [.retryAfter: "1", .cacheControl: "no-store"])
        }
        let headers: HTTPFields = [.wwwAuthenticate: challenge, .cacheControl: "no-store"]
        if kind == .missing {
            return JSONResponse.make(status: .unauthorized, object: ["error": "unauthorized", "error_description": "authentication required"], headers: headers)
        }
        return JSONResponse.make(status: .unauthorized, object: ["error": "invalid_token", "error_description": "the access token is invalid or expired"], headers: headers)
    }
}
