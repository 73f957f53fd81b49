/// What a test supplies to register an OAuth2 application.
///
/// `clientID`/`clientSecret` may be given so a demo broker can be configured before the fake
/// starts; otherwise Forgejo-shaped values (UUID v4, `gto_` + 52 base32) are generated.
public struct FakeAppSeed: Sendable, Codable, Equatable {
    public var name: String
    public var redirectURIs: [String]
    public var confidential: Bool
    public var clientID: String?
    public var clientSecret: String?

    public init(
        name: String,
        redirectURIs: [String],
        confidential: Bool = true,
        clientID: String? = nil,
        clientSecret: String? = nil
    ) {
        self.name = name
        self.redirectURIs = redirectURIs
        self.confidential = confidential
        self.clientID = clientID
        self.clientSecret = clientSecret
    }

    enum CodingKeys: String, CodingKey {
        case name
        case redirectURIs = "redirect_uris"
        case confidential = "confidential_client"
        case clientID = "client_id"
        case clientSecret = "client_secret"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decode(String.self, forKey: .name)
        self.redirectURIs = try container.decode([String].self, forKey: .redirectURIs)
        self.confidential = try container.decodeIfPresent(Bool.self, forKey: .confidential) ?? true
        self.clientID = try container.decodeIfPresent(String.self, forKey: .clientID)
        self.clientSecret = try container.decodeIfPresent(String.self, forKey: .clientSecret)
    }
}

/// The credentials of a registered app; the secret is returned only here, as in Forgejo.
public struct FakeAppCredentials: Sendable, Codable, Equatable {
    public let clientID: String
    public let clientSecret: String

    public init(clientID: String, clientSecret: String) {
        self.clientID = clientID
        self.clientSecret = clientSecret
    }

    enum CodingKeys: String, CodingKey {
        case clientID = "client_id"
        case clientSecret = "client_secret"
    }
}
