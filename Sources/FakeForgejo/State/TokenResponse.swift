/// A successful token response, encoded exactly like Forgejo's (`bearer` lowercase, no `scope`).
struct TokenResponse: Sendable, Encodable {
    let accessToken: String
    let tokenType = "bearer"
    let expiresIn: Int
    var refreshToken: String?
    let idToken: String?

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
        case refreshToken = "refresh_token"
        case idToken = "id_token"
    }
}
