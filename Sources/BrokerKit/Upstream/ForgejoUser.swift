/// The fields of `GET /api/v1/user` the broker keeps; optional ones default to empty because
/// Forgejo hides some of them depending on visibility settings.
public struct ForgejoUser: Sendable, Equatable, Decodable {
    public let id: Int64
    public let login: String
    public let fullName: String
    public let email: String
    public let avatarURL: String
    public let isAdmin: Bool

    public init(id: Int64, login: String, fullName: String, email: String, avatarURL: String, isAdmin: Bool) {
        self.id = id
        self.login = login
        self.fullName = fullName
        self.email = email
        self.avatarURL = avatarURL
        self.isAdmin = isAdmin
    }

    enum CodingKeys: String, CodingKey {
        case id, login, email
        case fullName = "full_name"
        case avatarURL = "avatar_url"
        case isAdmin = "is_admin"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try container.decode(Int64.self, forKey: .id)
        self.login = try container.decode(String.self, forKey: .login)
        self.fullName = try container.decodeIfPresent(String.self, forKey: .fullName) ?? ""
        self.email = try container.decodeIfPresent(String.self, forKey: .email) ?? ""
        self.avatarURL = try container.decodeIfPresent(String.self, forKey: .avatarURL) ?? ""
        self.isAdmin = try container.decodeIfPresent(Bool.self, forKey: .isAdmin) ?? false
    }
}
