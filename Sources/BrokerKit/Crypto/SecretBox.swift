import Crypto

/// Authenticated encryption for secrets at rest (Forgejo tokens) and in transit through clients
/// (sealed state). Each purpose gets its own HKDF-derived subkey so that a value sealed for one
/// purpose can never be opened as another, and the output carries a key id so keys can be
/// rotated later by adding old keys to the ring.
public struct SecretBox: Sendable {
    public struct OpenFailure: Error, Equatable {}

    /// Text format: `<kid>.<base64url(nonce ‖ ciphertext ‖ tag)>`.
    private let current: (id: String, key: SymmetricKey)
    private let previous: [String: SymmetricKey]

    public init(masterKey: [UInt8], purpose: String, previousMasterKeys: [[UInt8]] = []) {
        current = Self.derive(masterKey, purpose: purpose)
        previous = Dictionary(previousMasterKeys.map { Self.derive($0, purpose: purpose) }, uniquingKeysWith: { first, _ in first })
    }

    /// - Parameter context: bound into the ciphertext (e.g. the owning user id), so a sealed value
    ///   copied to another row does not open.
    public func seal(_ plaintext: [UInt8], context: String) -> String {
        // AES-GCM with a fresh random nonce only fails for invalid key sizes, which derive() rules out.
        guard let sealed = try? AES.GCM.seal(plaintext, using: current.key, authenticating: Array(context.utf8)),
              let combined = sealed.combined
        else { preconditionFailure("AES-GCM sealing with a 256-bit key cannot fail") }
        return current.id + "." + Base64URL.encode(combined)
    }

    public func seal(_ plaintext: String, context: String) -> String {
        seal(Array(plaintext.utf8), context: context)
    }

    public func open(_ text: String, context: String) throws(OpenFailure) -> [UInt8] {
        let parts = text.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let combined = Base64URL.decode(String(parts[1])) else { throw OpenFailure() }
        let keyID = String(parts[0])
        let key: SymmetricKey
        if keyID == current.id {
            key = current.key
        } else if let old = previous[keyID] {
            key = old
        } else {
            throw OpenFailure()
        }
        // On Linux a failed open throws a BoringSSL error rather than .authenticationFailure; any error means "not ours".
        guard let box = try? AES.GCM.SealedBox(combined: combined),
              let plain = try? AES.GCM.open(box, using: key, authenticating: Array(context.utf8))
        else { throw OpenFailure() }
        return Array(plain)
    }

    public func openString(_ text: String, context: String) throws(OpenFailure) -> String {
        String(decoding: try open(text, context: context), as: UTF8.self)
    }

    private static func derive(_ master: [UInt8], purpose: String) -> (id: String, key: SymmetricKey) {
        let key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: master), salt: Array("fjmcp-broker".utf8),
            info: Array(purpose.utf8), outputByteCount: 32
        )
        let id = String(Hex.encode(SHA256.hash(data: master)).prefix(8))
        return (id, key)
    }
}

/// HMAC signatures for values the browser holds (consent and binding cookies): tamper-evident,
/// not secret. Signs with the current key; verifies with it and with the previous keys, so the
/// cookies browsers hold survive a key rotation (and are re-signed when next set).
public struct Signer: Sendable {
    private let key: SymmetricKey
    private let previous: [SymmetricKey]

    public init(masterKey: [UInt8], purpose: String, previousMasterKeys: [[UInt8]] = []) {
        key = Self.derive(masterKey, purpose: purpose)
        previous = previousMasterKeys.map { Self.derive($0, purpose: purpose) }
    }

    /// `<payload>.<base64url(mac)>`; the payload must not contain '.' in its last segment.
    public func sign(_ payload: String) -> String {
        payload + "." + Base64URL.encode(HMAC<SHA256>.authenticationCode(for: Array(payload.utf8), using: key))
    }

    /// Returns the payload when the signature is valid (checked in constant time).
    public func verify(_ signed: String) -> String? {
        guard let dot = signed.lastIndex(of: ".") else { return nil }
        let payload = String(signed[..<dot])
        guard let mac = Base64URL.decode(String(signed[signed.index(after: dot)...])) else { return nil }
        let bytes = Array(payload.utf8)
        let valid = ([key] + previous).contains { HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: bytes, using: $0) }
        return valid ? payload : nil
    }

    private static func derive(_ master: [UInt8], purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: master), salt: Array("fjmcp-broker".utf8),
            info: Array(("sign:" + purpose).utf8), outputByteCount: 32
        )
    }
}
