/// Claims of Forgejo's OAuth JWTs (forgejo-notes A6): no iss/sub/aud/scope, because Forgejo looks
/// the grant up on every use.
struct FakeTokenClaims: Codable, Sendable, Equatable {
    enum Kind: Int, Codable, Sendable {
        case access = 0
        case refresh = 1
    }

    let gnt: Int
    let tt: Kind
    let cnt: Int?
    let exp: Int
    let iat: Int
}
