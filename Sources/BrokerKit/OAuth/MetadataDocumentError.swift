/// Why a client metadata document (CIMD) could not be used. Each case is a reason code in the
/// log and the `fjmcp_oauth_failures_total` metric; the browser is only ever told
/// ``browserMessage``, because distinct messages (timeout, unreachable, HTTP status) would turn
/// `/oauth/authorize` into a port scanner for hosts the broker can reach.
public enum MetadataDocumentError: Error, Sendable, Equatable {
    case notHTTPS
    case malformedURL
    case portNotAllowed
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
    /// Too many other documents are being fetched right now.
    case busy
    /// The request asking for it went away (its browser disconnected) before it arrived.
    case abandoned

    /// What the browser sees, whatever the reason.
    public static let browserMessage = "The client's metadata document could not be used."
    /// The reason code on the browser's error page, whatever the logged reason.
    public static let browserReason = "cimd_unusable"

    public var reason: String {
        switch self {
        case .notHTTPS: "cimd_not_https"
        case .malformedURL: "cimd_malformed_url"
        case .portNotAllowed: "cimd_port_not_allowed"
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
        case .busy: "cimd_busy"
        case .abandoned: "cimd_abandoned"
        }
    }
}
