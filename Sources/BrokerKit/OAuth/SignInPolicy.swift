import Foundation

/// Who may sign in (`FJMCP_ALLOWED_USERS`, `FJMCP_ALLOWED_ORGS`): a user is admitted when their
/// login is listed, or they belong to a listed organisation, or to a listed `org/team`. Forgejo
/// treats logins, organisation and team names case-insensitively, so the lists do too. With both
/// lists empty the policy is open and nobody's memberships are read.
public struct SignInPolicy: Sendable, Equatable {
    public private(set) var users: Set<String> = []
    public private(set) var organizations: Set<String> = []
    /// `org/team`, lower-cased.
    public private(set) var teams: Set<String> = []

    public struct EntryProblem: Error, Equatable, Sendable {
        /// Which list holds the entry, so the problem names the setting to fix.
        public enum List: Sendable {
            case users, organizations
        }

        public let list: List
        public let entry: String
        public let message: String
    }

    public init() {}

    /// - Throws: the first entry that is not a Forgejo name (or `org/team`).
    public init(users: String, organizations: String) throws(EntryProblem) {
        for entry in Self.entries(users) {
            guard Self.isName(entry) else { throw EntryProblem(list: .users, entry: entry, message: "not a Forgejo login") }
            self.users.insert(entry)
        }
        for entry in Self.entries(organizations) {
            let parts = entry.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard (1...2).contains(parts.count), Self.isName(parts[0]), parts.count == 1 || Self.isTeamName(parts[1]) else {
                throw EntryProblem(list: .organizations, entry: entry, message: "expected an organisation name or org/team")
            }
            if parts.count == 1 { self.organizations.insert(entry) } else { self.teams.insert(entry) }
        }
    }

    /// Nobody is restricted.
    public var isOpen: Bool { users.isEmpty && organizations.isEmpty && teams.isEmpty }
    /// Whether deciding about a login not listed in ``users`` needs the user's organisations.
    var needsOrganizations: Bool { !organizations.isEmpty }
    /// Whether it needs the user's teams.
    var needsTeams: Bool { !teams.isEmpty }

    /// Whether `login` is admitted by name alone (memberships are then not read).
    func admitsByName(_ login: String) -> Bool {
        isOpen || users.contains(login.lowercased())
    }

    /// Whether `memberships` (organisation names and `org/team`, any case) admit the user.
    func admits(memberships: ForgejoMemberships) -> Bool {
        !organizations.isDisjoint(with: memberships.organizations) || !teams.isDisjoint(with: memberships.teams)
    }

    /// The Forgejo scopes the membership checks need beyond what `scopes` (FORGEJO_SCOPES) grant;
    /// empty when nothing is missing. `/api/v1/user/orgs` wants read:user and
    /// read:organization, `/api/v1/user/teams` read:user (forgejo-notes A8: no granular scope at
    /// all means full access; write implies read).
    public func missingScopes(granted scopes: String) -> [String] {
        var needed: [String] = []
        if needsOrganizations || needsTeams { needed.append("read:user") }
        if needsOrganizations { needed.append("read:organization") }
        return needed.filter { !ForgejoScopes(scopes).allows($0) }
    }

    private static func entries(_ text: String) -> [String] {
        CommaSeparated.entries(text).map { $0.lowercased() }
    }

    /// Forgejo user and organisation names: letters, digits, `-`, `_`, `.` (at most 40).
    private static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 40
            && text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }
    }

    /// Team names are freer (spaces are allowed in Forgejo); only the separators are refused.
    private static func isTeamName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 255 && !text.contains(",") && !text.contains("/")
    }
}

/// What Forgejo says a user belongs to, lower-cased.
struct ForgejoMemberships: Sendable, Equatable {
    var organizations: Set<String> = []
    /// `org/team`.
    var teams: Set<String> = []
}

/// A granular Forgejo scope list as Forgejo reads it (forgejo-notes A8).
struct ForgejoScopes {
    static let categories: Set<String> = [
        "activitypub", "admin", "issue", "misc", "notification", "organization", "package", "repository", "user",
    ]
    /// Valid API scope words; unknown words are dropped, as Forgejo drops them.
    let words: Set<String>

    init(_ text: String) {
        words = Set(text.split(separator: " ").map(String.init).filter { word in
            if word == "all" { return true }
            let parts = word.split(separator: ":", maxSplits: 1)
            return parts.count == 2 && ["read", "write"].contains(parts[0]) && Self.categories.contains(String(parts[1]))
        })
    }

    /// Whether a token with these scopes may do `scope` (`read:x` or `write:x`).
    func allows(_ scope: String) -> Bool {
        if words.isEmpty || words.contains("all") { return true }
        let category = scope.split(separator: ":").last.map(String.init) ?? scope
        return words.contains(scope) || words.contains("write:" + category)
    }
}
