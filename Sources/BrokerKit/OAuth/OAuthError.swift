import Hummingbird

/// An error of a JSON OAuth endpoint (token, revocation, registration). `kind` alone decides the
/// wire code and HTTP status, so every failure maps to exactly one RFC 6749 §5.2 / RFC 7591
/// §3.2.2 answer; `reason` is the stable code operators see in logs and metrics.
public struct OAuthError: Error, Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case invalidRequest = "invalid_request"
        case invalidClient = "invalid_client"
        case invalidGrant = "invalid_grant"
        case unauthorizedClient = "unauthorized_client"
        case unsupportedGrantType = "unsupported_grant_type"
        case invalidScope = "invalid_scope"
        case invalidTarget = "invalid_target"
        case invalidRedirectURI = "invalid_redirect_uri"
        case invalidClientMetadata = "invalid_client_metadata"
        case unsupportedMediaType = "unsupported_media_type"
        case rateLimited = "rate_limited"
        case temporarilyUnavailable = "temporarily_unavailable"
        case serverError = "server_error"
        /// Authorization-response codes (RFC 6749 §4.1.2.1); they travel in redirects, not bodies.
        case unsupportedResponseType = "unsupported_response_type"
        case accessDenied = "access_denied"

        public var status: HTTPResponse.Status {
            switch self {
            case .invalidClient: .unauthorized
            case .unsupportedMediaType: .unsupportedMediaType
            case .rateLimited: .tooManyRequests
            case .temporarilyUnavailable: .serviceUnavailable
            case .serverError: .internalServerError
            default: .badRequest
            }
        }
    }

    public let kind: Kind
    /// Stable snake_case code for logs and the `reason` metric label.
    public let reason: String
    /// Human-readable text for `error_description`; never contains a secret.
    public let detail: String
    /// RFC 6749 §5.2: a client that tried HTTP Basic gets a `WWW-Authenticate: Basic` challenge.
    public var usedBasicAuth = false
    /// `Retry-After` seconds of a `rate_limited` answer: when the caller's bucket has a token again.
    public var retryAfter: Int?

    public init(_ kind: Kind, reason: String, _ detail: String) {
        self.kind = kind
        self.reason = reason
        self.detail = detail
    }

    static func invalidRequest(_ reason: String, _ detail: String) -> OAuthError { OAuthError(.invalidRequest, reason: reason, detail) }
    static func invalidGrant(_ reason: String, _ detail: String) -> OAuthError { OAuthError(.invalidGrant, reason: reason, detail) }
    static func invalidClient(_ reason: String, _ detail: String) -> OAuthError { OAuthError(.invalidClient, reason: reason, detail) }

    static func rateLimited(retryAfter: Int, _ detail: String) -> OAuthError {
        var error = OAuthError(.rateLimited, reason: "rate_limited", detail)
        error.retryAfter = retryAfter
        return error
    }
}

extension OAuthError: HTTPResponseError {
    public var status: HTTPResponse.Status { kind.status }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.cacheControl: "no-store"]
        if kind == .invalidClient, usedBasicAuth {
            headers[.wwwAuthenticate] = "Basic realm=\"fjmcp-broker\""
        }
        if kind == .rateLimited { headers[.retryAfter] = String(retryAfter ?? 1) }
        return JSONResponse.make(status: status, object: ["error": kind.rawValue, "error_description": detail], headers: headers)
    }
}
