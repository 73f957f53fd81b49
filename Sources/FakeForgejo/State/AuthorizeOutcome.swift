/// What `/login/oauth/authorize` and `/login/oauth/grant` answer; the routes render it.
enum AuthorizeOutcome: Sendable, Equatable {
    /// 303 to `/user/login`, remembering the original URL in the `redirect_to` cookie.
    case loginRequired
    /// HTML error page with status 400 (the redirect URI cannot be trusted yet).
    case errorPage(String)
    /// Bare 400 (consent POST that does not match the session).
    case badRequest
    /// 303 to the client's redirect URI (success or OAuth error).
    case redirect(String)
    /// 200 consent page.
    case consent(ConsentPage)
}

/// Data shown on the consent page and posted back by its form.
struct ConsentPage: Sendable, Equatable {
    let appName: String
    let csrfToken: String
    let request: PendingAuthorization
}
