/// Why a client metadata document (CIMD) could not be used. Each case is a reason code on the
/// authorization error page and in the log.
public enum MetadataDocumentError: Error, Sendable, Equatable {
    case notHTTPS
    case malformedURL
    case privateAddress
    case unresolvable
    case redirected
    case httpStatus(Int)
    case tooLarge
    case timeout
    case unreachable
    case invalidJSON
    case clientIDMismatch
    case missingField(String)
    case invalidRedirectURI(String)
    case unsupportedAuthMethod

    public var reason: String {
        switch self {
        case .notHTTPS: "cimd_not_https"
        case .malformedURL: "cimd_malformed_url"
        case .privateAddress: "cimd_private_address"
        case .unresolvable: "cimd_unresolvable"
        case .redirected: "cimd_redirect"
        case .httpStatus: "cimd_http_status"
        case .tooLarge: "cimd_too_large"
        case .timeout: "cimd_timeout"
        case .unreachable: "cimd_unreachable"
        case .invalidJSON: "cimd_invalid_json"
        case .clientIDMismatch: "cimd_client_id_mismatch"
        case .missingField: "cimd_missing_field"
        case .invalidRedirectURI: "cimd_invalid_redirect_uri"
        case .unsupportedAuthMethod: "cimd_unsupported_auth_method"
        }
    }

    public var message: String {
        switch self {
        case .notHTTPS: "The client's metadata document URL must use https."
        case .malformedURL: "The client id is not a valid metadata document URL."
        case .privateAddress: "The client's metadata document is on a private or reserved network address."
        case .unresolvable: "The host of the client's metadata document could not be resolved."
        case .redirected: "The client's metadata document URL redirects; redirects are not followed."
        case .httpStatus(let status): "Fetching the client's metadata document returned HTTP \(status)."
        case .tooLarge: "The client's metadata document is larger than 5 KB."
        case .timeout: "The client's metadata document did not arrive in time."
        case .unreachable: "The client's metadata document could not be fetched."
        case .invalidJSON: "The client's metadata document is not a JSON object."
        case .clientIDMismatch: "The client's metadata document names a different client_id."
        case .missingField(let field): "The client's metadata document lacks a valid \(field)."
        case .invalidRedirectURI(let problem): "The client's metadata document lists an unusable redirect URI: \(problem)."
        case .unsupportedAuthMethod: "The client's metadata document asks for a token endpoint authentication method other than none."
        }
    }
}
