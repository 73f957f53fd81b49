/// How `/oauth/authorize`, `/oauth/consent` and `/oauth/callback` fail. Until the client and its
/// redirect URI are verified, failures are HTML pages (never a redirect to an unverified URI);
/// afterwards they travel back to the client as RFC 6749 §4.1.2.1 redirects with `iss`.
enum AuthorizeFailure: Error {
    case page(status: PageStatus, reason: String, message: String)
    case redirect(redirectURI: String, state: String?, error: OAuthError)

    enum PageStatus {
        case badRequest, forbidden, badGateway, serverError
    }

    static func page(_ reason: String, _ message: String) -> AuthorizeFailure {
        .page(status: .badRequest, reason: reason, message: message)
    }

    var reason: String {
        switch self {
        case .page(_, let reason, _): reason
        case .redirect(_, _, let error): error.reason
        }
    }
}
