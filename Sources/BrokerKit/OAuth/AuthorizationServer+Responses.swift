import Foundation
import Hummingbird

/// Redirects to clients and to Forgejo, and the HTML error pages, shared by the browser-facing
/// endpoints.
extension AuthorizationServer {
    /// Appends parameters to a registered redirect URI, keeping any query it already has.
    func clientRedirect(_ redirectURI: String, _ parameters: [(String, String?)], status: HTTPResponse.Status = .found) -> Response {
        let query = URLFormEncoding.encode(parameters.compactMap { name, value in value.map { (name, $0) } })
        let separator = redirectURI.contains("?") ? "&" : "?"
        return Response(status: status, headers: [.location: redirectURI + separator + query])
    }

    func errorRedirect(_ redirectURI: String, state: String?, error: OAuthError, status: HTTPResponse.Status = .found) -> Response {
        clientRedirect(redirectURI, [
            ("error", error.kind.rawValue), ("error_description", error.detail), ("state", state), ("iss", config.issuer),
        ], status: status)
    }

    func render(_ failure: AuthorizeFailure, endpoint: String, clientID: String?, context: BrokerRequestContext,
                status redirectStatus: HTTPResponse.Status = .found) -> Response {
        OAuthTelemetry.failure(context.logger, endpoint: endpoint, clientID: clientID, reason: failure.reason)
        switch failure {
        case .page(let status, let reason, let message, let shownReason):
            let html = OAuthPages.error(title: "Authorization failed", message: message, reason: shownReason ?? reason,
                                        requestID: context.requestID)
            let code: HTTPResponse.Status = switch status {
            case .badRequest: .badRequest
            case .forbidden: .forbidden
            case .badGateway: .badGateway
            case .serverError: .internalServerError
            case .serviceUnavailable: .serviceUnavailable
            }
            return OAuthPages.response(html, status: code)
        case .redirect(let redirectURI, let state, let error):
            return errorRedirect(redirectURI, state: state, error: error, status: redirectStatus)
        case .rateLimited(let retryAfter):
            let html = OAuthPages.error(title: "Too many requests", message: "Too many sign-in requests came from your network. Wait a moment and try again.",
                                        reason: "rate_limited", requestID: context.requestID)
            var response = OAuthPages.response(html, status: .tooManyRequests)
            response.headers[.retryAfter] = String(retryAfter)
            return response
        }
    }

    /// Origin of the Forgejo instance, for the consent page CSP (`form-action` must allow the
    /// redirect that follows the form post) and the page text.
    var forgejoOrigin: String {
        guard let url = URLComponents(string: config.forgejo.baseURL), let scheme = url.scheme, let host = url.host else {
            return config.forgejo.baseURL
        }
        return "\(scheme)://\(host)" + (url.port.map { ":\($0)" } ?? "")
    }
}
