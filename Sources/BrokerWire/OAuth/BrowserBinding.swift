/// The browser-binding cookie's value as the broker makes it: 32 random bytes in base64url
/// without padding, so exactly 43 characters of that alphabet. A browser sending anything else
/// gets a new binding; such a value is never looked up.
package enum BrowserBinding {
    package static let length = 43

    package static func isWellFormed(_ value: String) -> Bool {
        value.utf8.count == length && value.utf8.allSatisfy(isBase64URL)
    }

    private static func isBase64URL(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x2D || byte == 0x5F
    }
}
