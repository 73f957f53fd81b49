import Foundation

/// Remembers, in one signed cookie, which clients this browser approved, so the consent page is
/// shown once per browser and client instead of on every login.
///
/// Each entry binds the client id AND the redirect URI (hashed), so a client whose metadata
/// document changes its redirect URI is asked again. The cookie is signed, not encrypted: it
/// holds only hashes and expiry times.
struct ConsentMemory: Sendable {
    static let approvalLifetime: TimeInterval = 30 * 24 * 3600
    static let maxEntries = 20

    private let signer: Signer

    init(masterKey: [UInt8], previousMasterKeys: [[UInt8]] = []) {
        signer = Signer(masterKey: masterKey, purpose: "consent", previousMasterKeys: previousMasterKeys)
    }

    func isApproved(cookie: String?, clientID: String, redirectURI: String, now: Date) -> Bool {
        let key = Self.entryKey(clientID: clientID, redirectURI: redirectURI)
        return entries(cookie, now: now)[key] != nil
    }

    /// The new cookie value with this approval added (oldest entries dropped beyond the cap).
    func approving(cookie: String?, clientID: String, redirectURI: String, now: Date) -> String {
        var current = entries(cookie, now: now)
        current[Self.entryKey(clientID: clientID, redirectURI: redirectURI)] = Int64(now.timeIntervalSince1970 + Self.approvalLifetime)
        let kept = current.sorted { $0.value > $1.value }.prefix(Self.maxEntries)
        return signer.sign(kept.map { "\($0.key):\($0.value)" }.joined(separator: "~"))
    }

    private func entries(_ cookie: String?, now: Date) -> [String: Int64] {
        guard let cookie, let payload = signer.verify(cookie) else { return [:] }
        var result: [String: Int64] = [:]
        for entry in payload.split(separator: "~") {
            let parts = entry.split(separator: ":")
            guard parts.count == 2, let expiry = Int64(parts[1]), Double(expiry) > now.timeIntervalSince1970 else { continue }
            result[String(parts[0])] = expiry
        }
        return result
    }

    private static func entryKey(clientID: String, redirectURI: String) -> String {
        String(TokenHasher.hash(clientID + "\n" + redirectURI).prefix(24))
    }
}
