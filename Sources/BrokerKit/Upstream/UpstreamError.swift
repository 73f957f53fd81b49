/// Why a call to Forgejo failed, classified by what the caller must do next (forgejo-notes D4).
///
/// Carries no token, code or response body, so it is safe to log and to put into metrics labels
/// via `reasonCode`.
public enum UpstreamError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The user's Forgejo authorization is gone for good: they must log in again.
    case loginRequired(reason: LoginRequiredReason)
    /// Forgejo saw an older refresh token of a rotated grant. Kept separate because another
    /// worker may have rotated it: the caller re-reads its store before giving up.
    case refreshTokenAlreadyUsed
    /// The broker's own Forgejo setup is wrong (client id, secret, callback, base URL).
    case misconfigured(reason: MisconfigurationReason)
    /// Forgejo is unreachable, slow or answered garbage: retry later, keep the stored tokens.
    case transient(reason: TransientReason)

    public enum LoginRequiredReason: String, Sendable, Equatable {
        /// `invalid_grant` "grant does not exist": user revoked the app, or the app was deleted.
        case grantRevoked = "upstream_grant_revoked"
        /// `unauthorized_client` "unable to parse refresh token": expired or garbage.
        case refreshTokenInvalid = "upstream_refresh_token_invalid"
        /// The authorization code is unknown, used, or belongs to another app.
        case codeRejected = "upstream_code_rejected"
        /// `unauthorized_client` "failed PKCE code challenge".
        case pkceFailed = "upstream_pkce_failed"
        /// The API answered 401 to our access token.
        case accessTokenRejected = "upstream_access_token_rejected"
    }

    public enum MisconfigurationReason: Sendable, Equatable {
        /// `invalid_client` "cannot load client ...": the client id is unknown to Forgejo.
        case unknownClient
        /// Wrong or empty client secret (`invalid_client` on refresh, `unauthorized_client` on code).
        case invalidClientSecret
        /// `unauthorized_client` "unexpected redirect URI": the callback is not registered.
        case redirectURIRejected
        /// Any other OAuth error (`invalid_request`, `unsupported_grant_type`, ...).
        case requestRejected
        /// A status that only a wrong base URL or disabled OAuth explains (3xx, 403, 404, ...).
        case unexpectedStatus(Int)

        public var reasonCode: String {
            switch self {
            case .unknownClient: "upstream_unknown_client"
            case .invalidClientSecret: "upstream_invalid_client_secret"
            case .redirectURIRejected: "upstream_redirect_uri_rejected"
            case .requestRejected: "upstream_request_rejected"
            case .unexpectedStatus: "upstream_unexpected_status"
            }
        }
    }

    public enum TransientReason: Sendable, Equatable {
        case connectionFailed
        case timeout
        case serverError(status: Int)
        case rateLimited
        /// HTML or another non-JSON body (a proxy error page, a maintenance page).
        case nonJSONResponse
        /// JSON that lacks required fields or has the wrong types.
        case malformedResponse
        case responseTooLarge

        public var reasonCode: String {
            switch self {
            case .connectionFailed: "upstream_unreachable"
            case .timeout: "upstream_timeout"
            case .serverError: "upstream_server_error"
            case .rateLimited: "upstream_rate_limited"
            case .nonJSONResponse: "upstream_non_json_response"
            case .malformedResponse: "upstream_malformed_response"
            case .responseTooLarge: "upstream_response_too_large"
            }
        }
    }

    /// Short, stable identifier for logs and metrics.
    public var reasonCode: String {
        switch self {
        case .loginRequired(let reason): reason.rawValue
        case .refreshTokenAlreadyUsed: "upstream_refresh_token_reused"
        case .misconfigured(let reason): reason.reasonCode
        case .transient(let reason): reason.reasonCode
        }
    }

    public var description: String {
        switch self {
        case .misconfigured(.unexpectedStatus(let status)), .transient(.serverError(let status)):
            "\(reasonCode) (HTTP \(status))"
        default:
            reasonCode
        }
    }
}
