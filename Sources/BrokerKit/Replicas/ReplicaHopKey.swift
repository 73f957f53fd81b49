import Crypto

/// The key replicas authenticate their forwarding hops with, derived from the broker's secret
/// key (`FJMCP_SECRET_KEY[_FILE]`, which every replica of one deployment shares), so no second
/// secret has to be distributed. Its own HKDF info string keeps it apart from every other key
/// derived from the same secret: a hop signature can never pass for a sealed token or a cookie
/// signature, nor the other way round.
struct ReplicaHopKey: Sendable {
    let current: SymmetricKey
    /// The key from `FJMCP_SECRET_KEY_PREVIOUS[_FILE]`: during a rolling key rotation, a replica still
    /// on the old key signs with it, and the ones already rotated accept it.
    let previous: [SymmetricKey]

    init(masterKey: [UInt8], previousMasterKeys: [[UInt8]] = []) {
        current = Self.derive(masterKey)
        previous = previousMasterKeys.map(Self.derive)
    }

    private static func derive(_ master: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: master), salt: Array("fjmcp-broker".utf8),
                               info: Array("replica-hop:v1".utf8), outputByteCount: 32)
    }
}
