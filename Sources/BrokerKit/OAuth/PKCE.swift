/// RFC 7636 value formats. The broker accepts only S256, whose challenge is always 43
/// base64url characters; verifiers are 43–128 unreserved characters (§4.1).
enum PKCE {
    static func isValidChallenge(_ challenge: String) -> Bool {
        challenge.utf8.count == 43 && challenge.utf8.allSatisfy(isUnreserved) && !challenge.contains(".") && !challenge.contains("~")
    }

    static func isValidVerifier(_ verifier: String) -> Bool {
        (43...128).contains(verifier.utf8.count) && verifier.utf8.allSatisfy(isUnreserved)
    }

    static func verify(verifier: String, challenge: String) -> Bool {
        ConstantTime.equals(TokenHasher.pkceChallenge(verifier: verifier), challenge)
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "~")
    }
}
