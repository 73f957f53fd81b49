/// Identifies which token a child holds (e.g. after a token swap) without revealing it:
/// the first 12 hex digits of FNV-1a-64 are not reversible to a usable token.
enum TokenFingerprint {
    static func of(_ token: String?) -> String {
        guard let token, !token.isEmpty else { return "none" }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in token.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        let padded = String(repeating: "0", count: 16 - hex.count) + hex
        return String(padded.prefix(12))
    }
}
