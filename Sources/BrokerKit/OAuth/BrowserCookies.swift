import Foundation
import Hummingbird

/// Names and attributes of the cookies the authorization flow and the account page set.
///
/// With an https public URL they carry the `__Host-` prefix (host-only, `Secure`, `Path=/`),
/// as the MCP security guidance requires. On a plain-http loopback URL (development only)
/// browsers drop `__Host-` cookies that lack `Secure`, so the prefix is left off there.
struct BrowserCookies: Sendable {
    let binding: String
    let consent: String
    /// The account page's signed session, and its sign-in in progress (see ``AccountSignIn``).
    let account: String
    let accountLogin: String
    private let secure: Bool

    init(publicURL: PublicURL) {
        secure = publicURL.isHTTPS
        let prefix = secure ? "__Host-" : ""
        binding = prefix + "fjmcp-authz"
        consent = prefix + "fjmcp-consent"
        account = prefix + "fjmcp-account"
        accountLogin = prefix + "fjmcp-account-login"
    }

    /// A `Set-Cookie` value; `HttpOnly` and `SameSite=Lax` always (Lax so the cookie survives the
    /// top-level redirect back from Forgejo).
    func setCookie(name: String, value: String, maxAge: Int) -> String {
        "\(name)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Lax" + (secure ? "; Secure" : "")
    }

    /// The value of the browser-binding cookie if it looks like one the broker made.
    func bindingValue(in request: Request) -> String? {
        guard let value = request.cookies[binding]?.value, BrowserBinding.isWellFormed(value) else { return nil }
        return value
    }
}
