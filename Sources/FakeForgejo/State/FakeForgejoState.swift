import Foundation

/// All state of a fake Forgejo plus the test controls.
///
/// Controls (Swift API here; JSON over HTTP under `/_fake/`, see `ControlRoutes`):
/// `createUser`, `registerApp`, `deleteApp`, `setAccessTokenLifetime(seconds:)`,
/// `setRefreshTokenLifetime(hours:)`, `setInvalidateRefreshTokens`, `expireTokens(login:includeRefreshTokens:)`,
/// `revokeGrant(login:clientID:)`, `setAutoApproveUser`, `advanceClock(seconds:)`, `counters()`,
/// `injectFault(_:target:count:)`, `clearFaults()`, `createOrganization(name:)`,
/// `addMember(organization:team:login:)`, `removeMember(organization:team:login:)`. Names are stable: other suites depend on them.
public actor FakeForgejoState {
    var accessTokenLifetime: Int
    var refreshTokenLifetimeHours: Int
    var invalidateRefreshTokens: Bool
    var autoApproveUser: String?
    let version: String
    /// `[api] MAX_RESPONSE_ITEMS`: the page size lists never exceed.
    let maxResponseItems: Int
    /// ROOT_URL with a trailing slash, like Forgejo's setting; known once the server is bound.
    var rootURL = "http://127.0.0.1/"
    var clockOffset = 0

    var users: [Int: FakeUser] = [:]
    var apps: [Int: FakeOAuthApp] = [:]
    var grants: [Int: FakeGrant] = [:]
    var codes: [String: FakeAuthorizationCode] = [:]
    var sessions: [String: FakeWebSession] = [:]
    var repositories: [FakeRepository] = []
    /// Keyed by lower-cased name.
    var organizations: [String: FakeOrganization] = [:]
    /// When set, `/user/orgs` and `/user/teams` answer 500 (a Forgejo that cannot list memberships).
    var membershipListsFailing = false
    /// Tokens handed out per grant, so "expire now" can kill stateless tokens that are still signed-valid.
    var issuedTokens: [Int: [(token: String, kind: FakeTokenClaims.Kind)]] = [:]
    var expiredTokens: Set<String> = []
    var faults: [FakeFaultTarget: [FakeFault]] = [:]
    var statistics = FakeForgejoCounters()
    var nextID = 1
    let signer = FakeTokenSigner()

    public init(options: FakeForgejoOptions) async throws {
        self.accessTokenLifetime = options.accessTokenLifetime
        self.refreshTokenLifetimeHours = options.refreshTokenLifetimeHours
        self.invalidateRefreshTokens = options.invalidateRefreshTokens
        self.autoApproveUser = options.autoApproveUser
        self.version = options.version
        self.maxResponseItems = max(options.maxResponseItems, 1)
        for user in options.users { try createUser(user) }
        for app in options.apps { try registerApp(app) }
    }

    /// Current time in Unix seconds as the fake sees it (real time plus `advanceClock` offsets).
    public func now() -> Int {
        Int(Date().timeIntervalSince1970) + clockOffset
    }

    func allocateID() -> Int {
        defer { nextID += 1 }
        return nextID
    }

    func setRootURL(_ baseURL: String) {
        rootURL = baseURL.hasSuffix("/") ? baseURL : baseURL + "/"
    }

    func user(login: String) -> FakeUser? {
        users.values.first { $0.login.lowercased() == login.lowercased() }
    }

    func app(clientID: String) -> FakeOAuthApp? {
        apps.values.first { $0.clientID == clientID }
    }

    func grant(userID: Int, appID: Int) -> FakeGrant? {
        grants.values.first { $0.userID == userID && $0.appID == appID }
    }
}
