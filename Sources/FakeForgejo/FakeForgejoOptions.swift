/// Start-up configuration of a fake Forgejo.
///
/// Defaults mirror Forgejo's code defaults (forgejo-notes A6), so a test that sets nothing sees
/// the same lifetimes and rotation behaviour as a stock Forgejo.
public struct FakeForgejoOptions: Sendable {
    /// `[oauth2] ACCESS_TOKEN_EXPIRATION_TIME`, in seconds; also the `expires_in` of every token response.
    public var accessTokenLifetime: Int
    /// `[oauth2] REFRESH_TOKEN_EXPIRATION_TIME`, in HOURS like Forgejo's setting.
    public var refreshTokenLifetimeHours: Int
    /// `[oauth2] INVALIDATE_REFRESH_TOKENS` (Forgejo default true): rotation with reuse detection.
    public var invalidateRefreshTokens: Bool
    /// When set, `/login/oauth/authorize` acts as this user, already logged in and consenting.
    public var autoApproveUser: String?
    /// Users created at start; each gets one seeded repository.
    public var users: [FakeUserSeed]
    /// OAuth applications registered at start.
    public var apps: [FakeAppSeed]
    /// Value of `GET /api/v1/version`.
    public var version: String
    /// `[api] MAX_RESPONSE_ITEMS` (Forgejo default 50): the most items one page of a list holds,
    /// whatever `limit` the caller asked for.
    public var maxResponseItems: Int

    public init(
        accessTokenLifetime: Int = 3600,
        refreshTokenLifetimeHours: Int = 730,
        invalidateRefreshTokens: Bool = true,
        autoApproveUser: String? = nil,
        users: [FakeUserSeed] = [],
        apps: [FakeAppSeed] = [],
        version: String = "12.0.0+gitea-1.22.0",
        maxResponseItems: Int = 50
    ) {
        self.accessTokenLifetime = accessTokenLifetime
        self.refreshTokenLifetimeHours = refreshTokenLifetimeHours
        self.invalidateRefreshTokens = invalidateRefreshTokens
        self.autoApproveUser = autoApproveUser
        self.users = users
        self.apps = apps
        self.version = version
        self.maxResponseItems = maxResponseItems
    }
}
