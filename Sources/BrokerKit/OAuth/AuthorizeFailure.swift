/// How `/oauth/authorize`, `/oauth/consent` and `/oauth/callback` fail. Until the client and its
/// redirect URI are verified, failures are HTML pages (never a redirect to an unverified URI);
/// afterwards they travel back to the client as RFC 6749 §4.1.2.1 redirects with `iss`.
enum AuthorizeFailure: Error {
    /// `reason` goes to the log and metrics; the page shows `shownReason` when given (a detail
    /// the browser must not learn, such as why a metadata document fetch failed), else `reason`.
    case page(status: PageStatus, reason: String, message: String, shownReason: String? = nil)
    case redirect(redirectURI: String, state: String?, error: OAuthError)
    /// The caller's address is over its rate: a 429 page with `Retry-After`.
    case rateLimited(retryAfter: Int)

    enum PageStatus {
        case badRequest, forbidden, badGateway, serverError, serviceUnavailable
    }

    static func page(_ reason: String, _ message: String) -> AuthorizeFailure {
        .page(status: .badRequest, reason: reason, message: message)
    }

    /// A metadata document that cannot be used; the browser learns nothing more (see ``MetadataDocumentError``).
    static func document(_ problem: MetadataDocumentError) -> AuthorizeFailure {
        .page(status: .badRequest, reason: problem.reason, message: MetadataDocumentError.browserMessage,
              shownReason: MetadataDocumentError.browserReason)
    }

    var reason: String {
        switch self {
        case .page(_, let reason, _, _): reason
        case .redirect(_, _, let error): error.reason
        case .rateLimited: "rate_limited"
        }
    }
}
