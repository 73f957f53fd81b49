import Crypto
import Foundation

/// A single-use authorization code with its PKCE binding.
struct FakeAuthorizationCode: Sendable {
    let grantID: Int
    let redirectURI: String
    let codeChallenge: String
    let codeChallengeMethod: String

    /// `ValidateCodeChallenge`, made stricter as forgejo-notes A4 recommends: an empty verifier
    /// never passes when a challenge is bound, and the comparison is constant time.
    func validate(verifier: String) -> Bool {
        switch codeChallengeMethod {
        case "":
            return true
        case "S256":
            guard !verifier.isEmpty else { return false }
            let digest = Data(SHA256.hash(data: Data(verifier.utf8)))
            return constantTimeEquals(Base64URL.encode(digest), codeChallenge)
        case "plain":
            guard !verifier.isEmpty else { return false }
            return constantTimeEquals(verifier, codeChallenge)
        default:
            return false
        }
    }
}

func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
    let left = Array(lhs.utf8)
    let right = Array(rhs.utf8)
    guard left.count == right.count else { return false }
    return zip(left, right).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
}
