/// A browser session (Forgejo's `i_like_gitea` cookie) and the authorize request it is
/// consenting to, which the grant POST must match.
struct FakeWebSession: Sendable {
    var userID: Int?
    let csrfToken: String
    var pendingAuthorization: PendingAuthorization?
}

/// The authorize parameters remembered between the consent page and `/login/oauth/grant`.
struct PendingAuthorization: Sendable, Equatable {
    let clientID: String
    let state: String
    let redirectURI: String
    let scope: String
    let nonce: String
    let codeChallenge: String
    let codeChallengeMethod: String
}
