import Foundation

/// The plaintext of a sealed `upstream_tokens` row: one Forgejo token set per user. Sealed with
/// purpose `upstream-tokens` and context `user:<id>`, so a row copied to another user does not
/// open. Shared format between the callback (which stores it) and upstream refresh.
public struct UpstreamTokenSet: Sendable, Equatable, Codable, CustomStringConvertible {
    public var accessToken: String
    public var refreshToken: String?
    public var accessExpiresAt: Date?
    /// When the broker received the answer to the login's code exchange this set descends from
    /// (a refresh carries it forward): the order of two logins of one user, of which Forgejo
    /// honours only the later one's refresh token (see `UpstreamLoginWriter`). Nil for sets
    /// stored before it was recorded, which any login replaces.
    public var loginExchangedAt: Date?

    public init(accessToken: String, refreshToken: String?, accessExpiresAt: Date?, loginExchangedAt: Date? = nil) {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.accessExpiresAt = accessExpiresAt
        self.loginExchangedAt = loginExchangedAt
    }

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case refreshToken = "refresh_token"
        case accessExpiresAt = "access_expires_at"
        case loginExchangedAt = "login_exchanged_at"
    }

    public static let purpose = "upstream-tokens"

    public static func context(userID: Int64) -> String { "user:\(userID)" }

    public func seal(with box: SecretBox, userID: Int64) -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        // Encoding a struct of strings and a date cannot fail.
        let data = (try? encoder.encode(self)) ?? Data()
        return box.seal(Array(data), context: Self.context(userID: userID))
    }

    public static func open(_ sealed: String, with box: SecretBox, userID: Int64) throws -> UpstreamTokenSet {
        let plain = try box.open(sealed, context: context(userID: userID))
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode(UpstreamTokenSet.self, from: Data(plain))
    }

    /// Redacted so a log line can never carry a Forgejo token.
    public var description: String { "UpstreamTokenSet(refreshToken: \(refreshToken == nil ? "absent" : "present"))" }
}
