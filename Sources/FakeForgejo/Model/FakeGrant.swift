/// Forgejo's `oauth2_grant` row: exactly one per (user, application), carrying the rotation
/// counter that makes older refresh tokens fail with "token was already used" (forgejo-notes A7).
struct FakeGrant: Sendable {
    let id: Int
    let userID: Int
    let appID: Int
    let scope: String
    var counter: Int
    var nonce: String
}
