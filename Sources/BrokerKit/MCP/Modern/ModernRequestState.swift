import Foundation

/// The `requestState` of an MRTR `input_required` result: an AES-GCM `SecretBox` seal (its own
/// HKDF subkey) of the parked call's handle, the method, a digest of the params and an expiry,
/// with the user and client bound in as associated data. The spec makes `requestState`
/// attacker-controlled input (spec 2026-07-28 patterns/mrtr §Server Requirements): sealing
/// keeps clients from reading or forging it, the binding rejects another principal's state, the
/// digest a retry that changed the request, the expiry a late one; single use is enforced by
/// the parking, which hands a handle out once.
///
/// The key is random per process on purpose: the call a state refers to lives in this process's
/// memory, so a state from before a restart (or from another instance) can never resume anything.
struct ModernRequestState: Sendable {
    /// Why a `requestState` was refused. The spec names no error code for any of these, so all
    /// of them are `-32602` (Invalid params) with HTTP 400, like other malformed params.
    enum Failure: Error, Equatable, Sendable {
        /// Not sealed by this broker process, altered, or another user's or client's.
        case invalid
        case expired
        /// Sealed for a different method or different params than this retry carries.
        case mismatch
        /// Already used (or its parked call already gave up).
        case used

        var kind: ModernRequestError.Kind {
            switch self {
            case .invalid: .invalidParams("requestState is not valid for this client")
            case .expired: .invalidParams("requestState has expired; send the request again without it")
            case .mismatch: .invalidParams("requestState belongs to a different request; a retry must repeat the original method and params")
            case .used: .invalidParams("requestState was already used or its call has ended; send the request again without it")
            }
        }
    }

    struct Payload: Codable, Equatable, Sendable {
        /// The parked call's handle (random, base64url).
        let handle: String
        let method: String
        /// base64url of `ModernRequest.paramsDigest`.
        let digest: String
        /// Unix time in milliseconds after which the state is refused.
        let expiresAt: Int64
    }

    private let box: SecretBox

    init(key: [UInt8] = OpaqueToken.randomBytes(32)) {
        box = SecretBox(masterKey: key, purpose: "mcp-mrtr-request-state")
    }

    static func context(userID: Int64, clientID: String) -> String {
        "mrtr|\(userID)|\(clientID)"
    }

    func seal(_ payload: Payload, userID: Int64, clientID: String) -> String {
        // Encoding four strings and an integer cannot fail.
        let encoded = (try? JSONEncoder().encode(payload)).map(Array.init) ?? []
        return box.seal(encoded, context: Self.context(userID: userID, clientID: clientID))
    }

    /// Verifies everything but single use, in the order that tells a client the most.
    func open(_ state: String, userID: Int64, clientID: String, method: String, digest: [UInt8], now: Date = Date())
        throws(Failure) -> Payload
    {
        guard state.utf8.count <= 4096,
            let plain = try? box.open(state, context: Self.context(userID: userID, clientID: clientID)),
            let payload = try? JSONDecoder().decode(Payload.self, from: Data(plain))
        else { throw .invalid }
        guard Int64(now.timeIntervalSince1970 * 1000) <= payload.expiresAt else { throw .expired }
        guard let sealedDigest = Base64URL.decode(payload.digest), payload.method == method,
            ConstantTime.equals(sealedDigest, digest)
        else { throw .mismatch }
        return payload
    }
}
