import Crypto

/// Random bearer secrets. The type prefix (`fjat_`, `fjrt_`, …) lets secret scanners and
/// operators recognise a leaked broker token without decoding it; the 256 random bits make it
/// unguessable.
public enum OpaqueToken {
    public enum Kind: String, Sendable, CaseIterable {
        case accessToken = "fjat_"
        case refreshToken = "fjrt_"
        case authorizationCode = "fjac_"
        case clientSecret = "fjcs_"
        case clientID = "fjci_"
        case sessionID = "fjs_"
        case state = "fjst_"
        case opaque = ""
    }

    public static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    public static func generate(_ kind: Kind, bytes: Int = 32) -> String {
        kind.rawValue + Base64URL.encode(randomBytes(bytes))
    }
}

/// Broker tokens are stored only as SHA-256 digests: a leaked database yields nothing usable,
/// and lookup stays O(1) through an index on the digest.
public enum TokenHasher {
    public static func hash(_ token: String) -> String {
        Hex.encode(SHA256.hash(data: Array(token.utf8)))
    }

    /// PKCE S256 (RFC 7636 §4.2): base64url(SHA-256(verifier)).
    public static func pkceChallenge(verifier: String) -> String {
        Base64URL.encode(SHA256.hash(data: Array(verifier.utf8)))
    }
}
