import Foundation

/// Forgejo-shaped random identifiers (forgejo-notes A2, A5).
enum FakeRandom {
    private static let base32Alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")

    static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// 32 random bytes as 52 lowercase unpadded base32 characters, after `prefix`.
    static func base32Token(prefix: String) -> String {
        var output = prefix
        var buffer = 0
        var bits = 0
        for byte in bytes(32) {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                output.append(base32Alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { output.append(base32Alphabet[(buffer << (5 - bits)) & 31]) }
        return output
    }

    static func authorizationCode() -> String { base32Token(prefix: "gta_") }
    static func clientSecret() -> String { base32Token(prefix: "gto_") }
    static func clientID() -> String { UUID().uuidString.lowercased() }
    static func opaque() -> String { bytes(24).map { String(format: "%02x", $0) }.joined() }
}
