import Crypto
import Foundation

/// Signs and parses dotted HS256 tokens with a per-process random key, so tokens look like
/// Forgejo's JWTs (the API's "contains a dot" heuristic) and cannot be forged by tests.
struct FakeTokenSigner: Sendable {
    private let key = SymmetricKey(size: .bits256)
    private static let header = Base64URL.encode(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))

    func sign(_ claims: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        // Encoding a struct of plain integers and strings cannot fail.
        let payload = Base64URL.encode((try? encoder.encode(claims)) ?? Data())
        let signingInput = "\(Self.header).\(payload)"
        let mac = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: key)
        return "\(signingInput).\(Base64URL.encode(Data(mac)))"
    }

    /// Signature and shape only; expiry and grant checks belong to the caller, which owns the clock.
    func parse(_ token: String) -> FakeTokenClaims? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == Self.header[...],
            let signature = Base64URL.decode(parts[2]),
            let payload = Base64URL.decode(parts[1])
        else { return nil }
        let signingInput = Data("\(parts[0]).\(parts[1])".utf8)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key) else {
            return nil
        }
        return try? JSONDecoder().decode(FakeTokenClaims.self, from: payload)
    }
}
