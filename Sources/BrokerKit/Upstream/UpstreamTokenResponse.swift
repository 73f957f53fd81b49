/// Forgejo's token endpoint answer. Forgejo may omit fields, so only `access_token` is required;
/// a missing `refresh_token` means "keep the one you have", never "store an empty one".
public struct UpstreamTokenResponse: Sendable, Equatable, Decodable, CustomStringConvertible {
    public let accessToken: String
    public let refreshToken: String?
    public let expiresIn: Int?
    public let tokenType: String

    public init(accessToken: String, refreshToken: String?, expiresIn: Int?, tokenType: String = "bearer") {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.expiresIn = expiresIn
        self.tokenType = tokenType
    }

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case refreshToken = "refresh_token"
        case expiresIn = "expires_in"
        case tokenType = "token_type"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let accessToken = try container.decode(String.self, forKey: .accessToken)
        guard !accessToken.isEmpty else {
            throw DecodingError.dataCorruptedError(
                forKey: .accessToken, in: container, debugDescription: "empty access_token")
        }
        self.accessToken = accessToken
        self.refreshToken = try container.decodeIfPresent(String.self, forKey: .refreshToken).flatMap {
            $0.isEmpty ? nil : $0
        }
        self.expiresIn = try container.decodeIfPresent(Int.self, forKey: .expiresIn)
        self.tokenType = try container.decodeIfPresent(String.self, forKey: .tokenType) ?? "bearer"
    }

    /// Redacted, so interpolating a response into a log line cannot leak a token.
    public var description: String {
        "UpstreamTokenResponse(refreshToken: \(refreshToken == nil ? "absent" : "present"), "
            + "expiresIn: \(expiresIn.map(String.init) ?? "absent"), tokenType: \(tokenType))"
    }
}
