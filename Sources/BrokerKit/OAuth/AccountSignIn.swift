import Foundation

/// The `/account` page's own sign-in, kept apart from MCP clients' authorizations.
///
/// It reuses the Forgejo leg of the client flow (same Forgejo app, same `/oauth/callback`, so an
/// operator registers nothing new) and is told apart by the prefix of its `state`. Nothing of it
/// is stored: the state's hash, the PKCE verifier and an expiry travel sealed in a short-lived
/// cookie of the browser that started the sign-in, which also stops a login-CSRF (a callback URL
/// planted in another browser has no matching cookie). The resulting account session is a signed
/// cookie naming the Forgejo user id; forms on the page carry a token derived from that cookie.
struct AccountSignIn: Sendable {
    /// Marks a Forgejo `state` as belonging to an account sign-in (client states are `fjst_…`).
    static let statePrefix = "fjacct_"
    static let loginLifetime: TimeInterval = 600
    /// Short on purpose: the page is for occasional use, and a signed cookie cannot be revoked.
    static let sessionLifetime: TimeInterval = 3600

    struct Login: Equatable {
        let state: String
        let verifier: String
        let cookie: String
    }

    private let loginBox: SecretBox
    private let sessionSigner: Signer
    private let csrfSigner: Signer

    init(masterKey: [UInt8], previousMasterKeys: [[UInt8]] = []) {
        loginBox = SecretBox(masterKey: masterKey, purpose: "account-login", previousMasterKeys: previousMasterKeys)
        sessionSigner = Signer(masterKey: masterKey, purpose: "account-session", previousMasterKeys: previousMasterKeys)
        csrfSigner = Signer(masterKey: masterKey, purpose: "account-csrf", previousMasterKeys: previousMasterKeys)
    }

    static func isAccountState(_ state: String) -> Bool { state.hasPrefix(statePrefix) }

    func beginLogin(now: Date) -> Login {
        let state = Self.statePrefix + Base64URL.encode(OpaqueToken.randomBytes(32))
        let verifier = Base64URL.encode(OpaqueToken.randomBytes(32))
        let expiry = Int64(now.timeIntervalSince1970 + Self.loginLifetime)
        let cookie = loginBox.seal("\(TokenHasher.hash(state))|\(verifier)|\(expiry)", context: "account-login")
        return Login(state: state, verifier: verifier, cookie: cookie)
    }

    enum LoginProblem: Error, Equatable {
        case cookieMissing, cookieUnreadable, stateMismatch, expired

        var reason: String {
            switch self {
            case .cookieMissing: "account_login_cookie_missing"
            case .cookieUnreadable: "account_login_cookie_invalid"
            case .stateMismatch: "browser_mismatch"
            case .expired: "request_expired"
            }
        }
    }

    /// The PKCE verifier of the sign-in this browser started with `state`.
    func verifier(cookie: String?, state: String, now: Date) throws(LoginProblem) -> String {
        guard let cookie else { throw .cookieMissing }
        guard let opened = try? loginBox.openString(cookie, context: "account-login") else { throw .cookieUnreadable }
        let parts = opened.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 3, let expiry = Int64(parts[2]) else { throw .cookieUnreadable }
        guard ConstantTime.equals(String(parts[0]), TokenHasher.hash(state)) else { throw .stateMismatch }
        guard Double(expiry) > now.timeIntervalSince1970 else { throw .expired }
        return String(parts[1])
    }

    /// A session cookie value for the signed-in user. The nonce makes every sign-in's CSRF
    /// token different.
    func session(userID: Int64, now: Date) -> String {
        let expiry = Int64(now.timeIntervalSince1970 + Self.sessionLifetime)
        return sessionSigner.sign("\(userID)|\(expiry)|\(Base64URL.encode(OpaqueToken.randomBytes(12)))")
    }

    /// The user a valid, unexpired session cookie names.
    func userID(session cookie: String?, now: Date) -> Int64? {
        guard let cookie, let payload = sessionSigner.verify(cookie) else { return nil }
        let parts = payload.split(separator: "|")
        guard parts.count == 3, let userID = Int64(parts[0]), let expiry = Int64(parts[1]),
              Double(expiry) > now.timeIntervalSince1970 else { return nil }
        return userID
    }

    /// The token the page's forms carry: bound to this session cookie, so a form posted from
    /// another site (which cannot read the page) is refused.
    func csrfToken(session cookie: String) -> String {
        let signed = csrfSigner.sign(TokenHasher.hash(cookie))
        return String(signed[signed.index(after: signed.lastIndex(of: ".") ?? signed.startIndex)...])
    }

    func isValidCSRF(_ token: String?, session cookie: String) -> Bool {
        guard let token else { return false }
        return ConstantTime.equals(token, csrfToken(session: cookie))
    }
}
