/// What a test supplies to create a Forgejo user; the id is chosen by the fake when omitted.
public struct FakeUserSeed: Sendable, Codable, Equatable {
    public var login: String
    public var password: String
    public var id: Int?
    public var isAdmin: Bool

    public init(login: String, password: String, id: Int? = nil, isAdmin: Bool = false) {
        self.login = login
        self.password = password
        self.id = id
        self.isAdmin = isAdmin
    }

    enum CodingKeys: String, CodingKey {
        case login, password, id
        case isAdmin = "is_admin"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.login = try container.decode(String.self, forKey: .login)
        self.password = try container.decode(String.self, forKey: .password)
        self.id = try container.decodeIfPresent(Int.self, forKey: .id)
        self.isAdmin = try container.decodeIfPresent(Bool.self, forKey: .isAdmin) ?? false
    }
}
