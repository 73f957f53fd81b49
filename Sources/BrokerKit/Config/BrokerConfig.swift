import Logging

/// The validated configuration of one broker process. Built only through
/// ``BrokerConfig/load(from:requireUpstream:)`` so that every instance is known to be coherent.
public struct BrokerConfig: Sendable {
    public var publicURL: PublicURL
    public var listen: ListenAddress
    public var dataDirectory: String
    /// Where the store is (`FJMCP_DATABASE_URL`).
    public var database: DatabaseLocation
    /// Raw key bytes when configured; `nil` means "load or generate the key file in the data directory".
    public var secretKey: [UInt8]?
    /// Keys of earlier rotations (`FJMCP_SECRET_KEY_PREVIOUS`): they still open what they sealed
    /// or signed, and nothing new is sealed with them.
    public var previousSecretKeys: [[UInt8]] = []
    public var forgejo: ForgejoSettings
    public var child: ChildSettings
    public var sessions: SessionLimits
    public var tokens: TokenLifetimes
    public var trustedProxies: [IPRange]
    /// Who may read `/metrics` and `/readyz`; nil means anyone.
    public var metricsAllow: [IPRange]?
    public var maxBodySize: Int
    public var shutdownTimeout: Duration
    public var logLevel: Logger.Level
    public var logFormat: LogFormat
    /// Lifts the SSRF guard of client metadata document fetches; only for tests that serve
    /// documents from loopback.
    public var cimdAllowPrivate: Bool = false
    /// Rate limits and bounds of the OAuth endpoints (`FJMCP_RATE_LIMIT_*`, `FJMCP_CIMD_*`, …).
    public var oauth = OAuthLimits()
    /// `FJMCP_UPSTREAM_PROBE_INTERVAL`: how often a user with live children has their Forgejo
    /// token checked against Forgejo (`UpstreamTruthProbe`).
    public var upstreamProbeInterval = Setting.upstreamProbeInterval.defaultDuration
    /// Which tools clients may see and call (`FJMCP_TOOLS_*`, `FJMCP_READ_ONLY`).
    public var tools = ToolPolicy()
    /// Where the audit trail goes (`FJMCP_AUDIT_*`).
    public var audit = AuditSettings()
    /// Who may sign in and which clients may connect.
    public var access = AccessSettings()
    /// Replica mode (`FJMCP_REPLICA_*`); nil: off, one broker per database.
    public var replica: ReplicaSettings?

    public struct ForgejoSettings: Sendable {
        /// Base URL without a trailing slash.
        public var baseURL: String
        public var clientID: String
        public var clientSecret: String
        public var scopes: String
    }

    public struct ChildSettings: Sendable {
        public var command: String
        public var tokenEnv: String
        public var urlEnv: String
        /// `NAME=value` entries set a value; a bare `NAME` passes the broker's own value through.
        public var extraEnv: [String]
        public var stopGrace: Duration
        public var sandbox: ChildSandboxMode = .auto
        /// `FJMCP_BWRAP_PATH`; nil means bwrap on PATH.
        public var sandboxHelper: String?
    }

    public struct SessionLimits: Sendable {
        public var idleTimeout: Duration
        public var maxLifetime: Duration
        public var maxPerUser: Int
        public var maxTotal: Int
        public var maxCallsPerSession: Int
        /// `FJMCP_MAX_BUFFERED_EVENT_BYTES`: what one call or stream may hold for a slow reader.
        public var maxBufferedEventBytes = BufferBound.defaultLimit
        /// `FJMCP_RATE_LIMIT_SPAWN`: child starts per user; nil: off.
        public var spawnRate = Setting.rateLimitSpawn.defaultRate
    }

    public struct TokenLifetimes: Sendable {
        public var accessToken: Duration
        public var refreshToken: Duration
        public var refreshGrace: Duration
    }

    public enum LogFormat: String, Sendable {
        case text, json
    }

    /// The OAuth issuer: the public URL without a trailing slash (RFC 8414 compares it exactly).
    public var issuer: String { publicURL.origin }
    /// The protected resource clients name in `resource` and that tokens are bound to.
    public var mcpResource: String { publicURL.origin + "/mcp" }
}

/// All problems of a configuration, one line each, so an operator fixes them in one go.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public let problems: [String]
    public var description: String { problems.joined(separator: "\n") }
}
