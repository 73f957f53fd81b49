/// JSON shapes of the API responses; keys follow Forgejo's `modules/structs`.
struct APIUser: Encodable, Sendable {
    let id: Int
    let login: String
    let loginName: String
    let sourceID = 0
    let fullName: String
    let email: String
    let avatarURL: String
    let htmlURL: String
    let language = "en-US"
    let isAdmin: Bool
    let lastLogin = "2026-01-01T00:00:00Z"
    let created = "2026-01-01T00:00:00Z"
    let restricted = false
    let active = true
    let prohibitLogin = false
    let location = ""
    let pronouns = ""
    let website = ""
    let description = ""
    let visibility = "public"
    let followersCount = 0
    let followingCount = 0
    let starredReposCount = 0

    init(_ user: FakeUser, rootURL: String) {
        self.id = user.id
        self.login = user.login
        self.loginName = ""
        self.fullName = user.fullName
        self.email = user.email
        self.avatarURL = "\(rootURL)avatars/\(user.id)"
        self.htmlURL = "\(rootURL)\(user.login)"
        self.isAdmin = user.isAdmin
    }

    enum CodingKeys: String, CodingKey {
        case id, login, email, language, created, restricted, active, location, pronouns, website, description,
            visibility
        case loginName = "login_name"
        case sourceID = "source_id"
        case fullName = "full_name"
        case avatarURL = "avatar_url"
        case htmlURL = "html_url"
        case isAdmin = "is_admin"
        case lastLogin = "last_login"
        case prohibitLogin = "prohibit_login"
        case followersCount = "followers_count"
        case followingCount = "following_count"
        case starredReposCount = "starred_repos_count"
    }
}

struct APIRepository: Encodable, Sendable {
    let id: Int
    let owner: APIUser
    let name: String
    let fullName: String
    let description = "Seeded by fake-forgejo"
    let isPrivate = false
    let htmlURL: String
    let cloneURL: String
    let defaultBranch = "main"
    let openIssuesCount: Int

    init(_ repository: FakeRepository, owner: FakeUser, rootURL: String) {
        self.id = repository.id
        self.owner = APIUser(owner, rootURL: rootURL)
        self.name = repository.name
        self.fullName = repository.fullName
        self.htmlURL = "\(rootURL)\(repository.fullName)"
        self.cloneURL = "\(rootURL)\(repository.fullName).git"
        self.openIssuesCount = repository.issues.count
    }

    enum CodingKeys: String, CodingKey {
        case id, owner, name, description
        case fullName = "full_name"
        case isPrivate = "private"
        case htmlURL = "html_url"
        case cloneURL = "clone_url"
        case defaultBranch = "default_branch"
        case openIssuesCount = "open_issues_count"
    }
}

struct APIIssue: Encodable, Sendable {
    let id: Int
    let number: Int
    let title: String
    let body: String
    let state = "open"
    let user: APIUser?
    let htmlURL: String

    init(_ issue: FakeIssue, repository: FakeRepository, author: FakeUser?, rootURL: String) {
        self.id = issue.id
        self.number = issue.index
        self.title = issue.title
        self.body = issue.body
        self.user = author.map { APIUser($0, rootURL: rootURL) }
        self.htmlURL = "\(rootURL)\(repository.fullName)/issues/\(issue.index)"
    }

    enum CodingKeys: String, CodingKey {
        case id, number, title, body, state, user
        case htmlURL = "html_url"
    }
}

/// Forgejo's API error body: `message` and `url` are the stable keys.
struct APIErrorBody: Encodable, Sendable {
    let message: String
    let url: String
}

struct APISettings: Encodable, Sendable {
    let maxResponseItems: Int
    let defaultPagingNum = 30
    let defaultGitTreesPerPage = 1000
    let defaultMaxBlobSize = 10_485_760

    enum CodingKeys: String, CodingKey {
        case maxResponseItems = "max_response_items"
        case defaultPagingNum = "default_paging_num"
        case defaultGitTreesPerPage = "default_git_trees_per_page"
        case defaultMaxBlobSize = "default_max_blob_size"
    }
}

struct CreateIssueBody: Decodable, Sendable {
    let title: String?
    let body: String?
}

/// `modules/structs.Organization` (the fields a client reads; `name` and `username` are the same).
struct APIOrganization: Encodable, Sendable {
    let id: Int
    let name: String
    let username: String
    let fullName = ""
    let visibility = "public"

    init(_ organization: FakeOrganization) {
        id = organization.id
        name = organization.name
        username = organization.name
    }

    enum CodingKeys: String, CodingKey {
        case id, name, username, visibility
        case fullName = "full_name"
    }
}

/// `modules/structs.Team` as `/user/teams` returns it, with its organisation.
struct APITeam: Encodable, Sendable {
    let id: Int
    let name: String
    let organization: APIOrganization
    let permission = "read"

    init(team: FakeTeam, organization: APIOrganization) {
        id = team.id
        name = team.name
        self.organization = organization
    }
}
