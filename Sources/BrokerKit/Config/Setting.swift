import Foundation

/// One configuration setting: the single source of truth for its environment name, flag,
/// default and help text, so the environment, the command line, `check-config` and the README's
/// reference table can never drift apart.
public struct Setting: Sendable, Hashable {
    /// Environment variable name, e.g. `FJMCP_PUBLIC_URL`.
    public let env: String
    /// Default value as the user would write it; `nil` means "required" or "unset".
    public let defaultValue: String?
    /// Secrets can also come from `<env>_FILE` and are redacted by `check-config`.
    public let isSecret: Bool
    public let help: String

    public init(_ env: String, default defaultValue: String? = nil, secret: Bool = false, help: String) {
        self.env = env
        self.defaultValue = defaultValue
        self.isSecret = secret
        self.help = help
    }

    /// `FJMCP_PUBLIC_URL` → `--public-url`; `FORGEJO_URL` → `--forgejo-url`.
    public var flag: String {
        let trimmed = env.hasPrefix("FJMCP_") ? String(env.dropFirst("FJMCP_".count)) : env
        return "--" + trimmed.lowercased().replacingOccurrences(of: "_", with: "-")
    }

    public var fileEnv: String { env + "_FILE" }
}

extension Setting {
    public static let publicURL = Setting("FJMCP_PUBLIC_URL", help: "External base URL clients use (https unless loopback); issuer and MCP resource derive from it. Required.")
    public static let listen = Setting("FJMCP_LISTEN", default: "127.0.0.1:8080", help: "Address and port to bind (host:port).")
    public static let dataDir = Setting("FJMCP_DATA_DIR", default: "./data", help: "Directory for the SQLite database and the generated secret key (created 0700).")
    public static let databaseURL = Setting("FJMCP_DATABASE_URL", help: "Store location: sqlite://PATH (default sqlite://$FJMCP_DATA_DIR/broker.sqlite) or postgres://USER@HOST:PORT/DATABASE with ?sslmode=disable|prefer|require|verify-full, ?sslrootcert=PATH, ?host=/socket/dir.")
    public static let databasePassword = Setting("FJMCP_DATABASE_PASSWORD", secret: true, help: "Password of the PostgreSQL user, when the URL carries none (prefer FJMCP_DATABASE_PASSWORD_FILE).")
    public static let secretKey = Setting("FJMCP_SECRET_KEY", secret: true, help: "32-byte key (base64, base64url or hex) sealing Forgejo tokens and signing cookies; generated into the data directory when unset.")
    public static let secretKeyPrevious = Setting("FJMCP_SECRET_KEY_PREVIOUS", secret: true, help: "The key before the last rotation: sealed tokens and cookies made with it still open, and are re-sealed with the current key on their next write.")
    public static let forgejoURL = Setting("FORGEJO_URL", help: "Forgejo base URL. Required.")
    public static let forgejoClientID = Setting("FORGEJO_CLIENT_ID", help: "Client ID of the broker's OAuth2 application in Forgejo. Required.")
    public static let forgejoClientSecret = Setting("FORGEJO_CLIENT_SECRET", secret: true, help: "Client secret of that application. Required.")
    public static let forgejoScopes = Setting("FORGEJO_SCOPES", default: "", help: "Space-separated granular Forgejo scopes; empty means full API access. Fixed at a user's first consent.")
    public static let childCommand = Setting("FJMCP_CHILD_COMMAND", default: "forgejo-mcp --transport stdio", help: "Command line of the per-session MCP stdio child.")
    public static let childTokenEnv = Setting("FJMCP_CHILD_TOKEN_ENV", default: "FORGEJO_ACCESS_TOKEN", help: "Environment variable name the child reads its Forgejo token from.")
    public static let childURLEnv = Setting("FJMCP_CHILD_URL_ENV", default: "FORGEJO_URL", help: "Environment variable name the child reads the Forgejo URL from.")
    public static let childEnv = Setting("FJMCP_CHILD_ENV", default: "", help: "Extra child environment, comma-separated: NAME=value sets, a bare NAME passes the broker's value through.")
    public static let childSandbox = Setting("FJMCP_CHILD_SANDBOX", default: "auto", help: "auto, on or off: run each child in its own user, PID, mount and IPC namespaces with bubblewrap; auto warns once and runs without when that is impossible here, on refuses to start.")
    public static let bwrapPath = Setting("FJMCP_BWRAP_PATH", default: "", help: "The bubblewrap executable for the child sandbox; empty means bwrap on PATH.")
    public static let childStopGrace = Setting("FJMCP_CHILD_STOP_GRACE", default: "2s", help: "How long a child may take to exit after stdin closes, and again after SIGTERM.")
    public static let sessionIdleTimeout = Setting("FJMCP_SESSION_IDLE_TIMEOUT", default: "30m", help: "Sessions idle longer than this are ended.")
    public static let sessionMaxLifetime = Setting("FJMCP_SESSION_MAX_LIFETIME", default: "24h", help: "Sessions older than this are ended.")
    public static let maxSessionsPerUser = Setting("FJMCP_MAX_SESSIONS_PER_USER", default: "8", help: "Concurrent sessions per Forgejo user.")
    public static let maxSessions = Setting("FJMCP_MAX_SESSIONS", default: "256", help: "Concurrent sessions in total.")
    public static let maxCallsPerSession = Setting("FJMCP_MAX_CALLS_PER_SESSION", default: "64", help: "Requests one session (or one user's shared child) may have in flight at once; more get a JSON-RPC error.")
    public static let maxBufferedEventBytes = Setting("FJMCP_MAX_BUFFERED_EVENT_BYTES", default: "4194304", help: "Bytes of child messages one call or stream may hold for a client that reads slower than the child writes; beyond it the call ends with a JSON-RPC error (a GET or listen stream is closed), the session goes on.")
    public static let rateLimitSpawn = Setting("FJMCP_RATE_LIMIT_SPAWN", default: "20/20s", help: "Per Forgejo user, every child process started for a client (an initialize that needs one, a user child's or a deferred session's first request): BURST/PERIOD or off; beyond it HTTP 429 with Retry-After.")
    public static let accessTokenTTL = Setting("FJMCP_ACCESS_TOKEN_TTL", default: "1h", help: "Lifetime of broker access tokens.")
    public static let refreshTokenTTL = Setting("FJMCP_REFRESH_TOKEN_TTL", default: "30d", help: "Lifetime of broker refresh tokens.")
    public static let refreshGrace = Setting("FJMCP_REFRESH_GRACE", default: "60s", help: "How long a rotated refresh token still answers with its successor.")
    public static let trustedProxies = Setting("FJMCP_TRUSTED_PROXIES", default: "loopback", help: "Comma-separated IPs/CIDRs (or 'loopback', 'none') whose X-Forwarded-For is believed.")
    public static let metricsAllow = Setting("FJMCP_METRICS_ALLOW", default: "loopback", help: "Comma-separated IPs/CIDRs (or 'loopback', 'any') allowed to read /metrics and /readyz; others get 404.")
    public static let maxBodySize = Setting("FJMCP_MAX_BODY_SIZE", default: "1048576", help: "Largest accepted request body in bytes.")
    public static let shutdownTimeout = Setting("FJMCP_SHUTDOWN_TIMEOUT", default: "10s", help: "Bound on finishing in-flight requests at shutdown.")
    public static let logLevel = Setting("FJMCP_LOG_LEVEL", default: "info", help: "trace, debug, info, notice, warning, error or critical.")
    public static let logFormat = Setting("FJMCP_LOG_FORMAT", default: "text", help: "text or json.")
    public static let rateLimitAuthorize = Setting("FJMCP_RATE_LIMIT_AUTHORIZE", default: "30/1m", help: "Per client address (IPv4 address or IPv6 /64), for each of /oauth/authorize, /oauth/consent and /oauth/callback: BURST/PERIOD (up to BURST at once, refilling BURST per PERIOD) or off.")
    public static let rateLimitRegister = Setting("FJMCP_RATE_LIMIT_REGISTER", default: "20/40s", help: "Per client address, for /oauth/register: BURST/PERIOD or off.")
    public static let rateLimitToken = Setting("FJMCP_RATE_LIMIT_TOKEN", default: "60/12s", help: "Per client id, for each of /oauth/token and /oauth/revoke: BURST/PERIOD or off.")
    public static let maxPendingAuthorizations = Setting("FJMCP_MAX_PENDING_AUTHORIZATIONS", default: "10000", help: "Sign-ins in progress kept at once (each browser keeps at most 10); beyond it /oauth/authorize answers 503.")
    public static let maxGrantlessClients = Setting("FJMCP_MAX_GRANTLESS_CLIENTS", default: "10000", help: "Registered clients that never obtained a grant kept at once; the oldest is evicted for a new one.")
    public static let grantlessClientLifetime = Setting("FJMCP_GRANTLESS_CLIENT_LIFETIME", default: "24h", help: "Registered clients that obtained no grant within this are deleted.")
    public static let cimdPorts = Setting("FJMCP_CIMD_PORTS", default: "443", help: "Ports a client metadata document URL may use, comma-separated, or any.")
    public static let cimdFetchTimeout = Setting("FJMCP_CIMD_FETCH_TIMEOUT", default: "10s", help: "One deadline over a whole client metadata document fetch (name resolution, connection, headers and body).")
    public static let allowedUsers = Setting("FJMCP_ALLOWED_USERS", default: "", help: "Forgejo logins allowed to sign in, comma-separated, case-insensitive; with FJMCP_ALLOWED_ORGS empty too, every Forgejo user may. Checked at login and at each Forgejo token refresh.")
    public static let allowedOrgs = Setting("FJMCP_ALLOWED_ORGS", default: "", help: "Forgejo organisations (org) or teams (org/team) whose members may sign in, comma-separated, case-insensitive; org entries need the Forgejo scope read:organization.")
    public static let accessContact = Setting("FJMCP_ACCESS_CONTACT", default: "", help: "Who a refused user should ask for access (an e-mail address, a team), shown on the refusal page; empty says 'the administrator of this server'.")
    public static let allowedRedirectHosts = Setting("FJMCP_ALLOWED_REDIRECT_HOSTS", default: "", help: "Hosts clients may redirect to (e.g. claude.ai,claude.com,localhost; localhost covers every loopback address) and private-use schemes as scheme: (e.g. cursor:); empty allows any https or loopback redirect.")
    public static let allowedClientIDHosts = Setting("FJMCP_ALLOWED_CLIENT_ID_HOSTS", default: "", help: "Hosts whose client ID metadata documents are accepted as clients, comma-separated; empty accepts any public https host.")
    public static let staticClientsFile = Setting("FJMCP_STATIC_CLIENTS_FILE", default: "", help: "JSON file listing pre-registered confidential clients: [{client_id, client_secret_sha256, name, redirect_uris}] (hex SHA-256 of the secret).")
    public static let cimdAllowPrivate = Setting("FJMCP_CIMD_ALLOW_PRIVATE", default: "false", help: "Tests only: let client metadata documents live on private/loopback addresses (and plain http on 127.0.0.1).")

    /// Every setting, in the order `check-config` and the README list them.
    public static let all: [Setting] = [
        publicURL, listen, dataDir, databaseURL, databasePassword, secretKey, secretKeyPrevious,
        replicaURL, replicaHeartbeat, replicaLapse,
        forgejoURL, forgejoClientID, forgejoClientSecret, forgejoScopes,
        childCommand, childTokenEnv, childURLEnv, childEnv, childSandbox, bwrapPath, childStopGrace,
        sessionIdleTimeout, sessionMaxLifetime, maxSessionsPerUser, maxSessions, maxCallsPerSession, maxBufferedEventBytes,
        rateLimitSpawn,
        accessTokenTTL, refreshTokenTTL, refreshGrace, upstreamProbeInterval,
        trustedProxies, metricsAllow, maxBodySize, shutdownTimeout, logLevel, logFormat, cimdAllowPrivate,
        rateLimitAuthorize, rateLimitRegister, rateLimitToken, maxPendingAuthorizations, maxGrantlessClients,
        grantlessClientLifetime, cimdPorts, cimdFetchTimeout,
        toolsAllow, toolsDeny, readOnly, auditLog, auditRetention,
        allowedUsers, allowedOrgs, accessContact, allowedRedirectHosts, allowedClientIDHosts, staticClientsFile,
    ]
}
