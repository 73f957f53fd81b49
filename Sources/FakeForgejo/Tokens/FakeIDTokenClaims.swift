/// The OIDC id_token claims Forgejo adds when the grant scope contains `openid`.
struct FakeIDTokenClaims: Encodable, Sendable {
    let iss: String
    let aud: [String]
    let sub: String
    let exp: Int
    let iat: Int
    let nonce: String?
}
