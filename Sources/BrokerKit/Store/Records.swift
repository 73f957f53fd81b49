import Foundation

/// A Forgejo account that has logged in through the broker, keyed by Forgejo's numeric user id
/// (logins can be renamed; ids cannot).
public struct UserRecord: Sendable, Equatable {
    public var id: Int64
    public var login: String
    public var fullName: String
    public var email: String
    public var avatarURL: String
    public var isAdmin: Bool
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: Int64, login: String, fullName: String = "", email: String = "", avatarURL: String = "",
                isAdmin: Bool = false, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.login = login
        self.fullName = fullName
        self.email = email
        self.avatarURL = avatarURL
        self.isAdmin = isAdmin
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// The ONE Forgejo token set of a user (forgejo-notes A7: every issuance invalidates older
/// refresh tokens of the same user+app, so per-session token sets cannot work). `sealed` is an
/// opaque ``SecretBox`` ciphertext; `version` drives compare-and-swap between refreshers.
public struct UpstreamTokenRecord: Sendable, Equatable {
    public var userID: Int64
    public var sealed: String
    public var accessExpiresAt: Date?
    public var version: Int64
    public var updatedAt: Date

    public init(userID: Int64, sealed: String, accessExpiresAt: Date?, version: Int64, updatedAt: Date) {
        self.userID = userID
        self.sealed = sealed
        self.accessExpiresAt = accessExpiresAt
        self.version = version
        self.updatedAt = updatedAt
    }
}

public enum ClientKind: String, Sendable {
    /// Registered through RFC 7591 dynamic client registration.
    case dynamic
    /// Identified by a Client ID Metadata Document URL; the row is a bounded-TTL cache.
    case metadataDocument = "cimd"
}

public struct ClientRecord: Sendable, Equatable {
    public var clientID: String
    public var kind: ClientKind
    /// SHA-256 of the client secret for confidential clients; nil for public ones.
    public var secretHash: String?
    public var name: String
    public var redirectURIs: [String]
    /// `none`, `client_secret_post` or `client_secret_basic`.
    public var tokenEndpointAuthMethod: String
    /// The registration or metadata document as received, for the registration response and audits.
    public var metadataJSON: String
    public var createdAt: Date
    /// When a cached metadata document is stale and must be fetched again before the next
    /// authorization; nil for registered clients. Stale rows are kept so token refreshes of
    /// existing grants never depend on the document host being up.
    public var expiresAt: Date?

    public init(clientID: String, kind: ClientKind, secretHash: String?, name: String, redirectURIs: [String],
                tokenEndpointAuthMethod: String, metadataJSON: String, createdAt: Date, expiresAt: Date? = nil) {
        self.clientID = clientID
        self.kind = kind
        self.secretHash = secretHash
        self.name = name
        self.redirectURIs = redirectURIs
        self.tokenEndpointAuthMethod = tokenEndpointAuthMethod
        self.metadataJSON = metadataJSON
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// One user's authorization of one client. Everything issued from it dies with it.
public struct GrantRecord: Sendable, Equatable {
    public var id: String
    public var userID: Int64
    public var clientID: String
    public var scope: String
    public var resource: String
    public var createdAt: Date
    public var lastUsedAt: Date
    public var revokedAt: Date?

    public init(id: String, userID: Int64, clientID: String, scope: String, resource: String,
                createdAt: Date, lastUsedAt: Date, revokedAt: Date? = nil) {
        self.id = id
        self.userID = userID
        self.clientID = clientID
        self.scope = scope
        self.resource = resource
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.revokedAt = revokedAt
    }
}

/// A legacy MCP session as the store keeps it: what it takes to resume it on a new child (the
/// client's own handshake and the session state the broker saw), bound to the user, client and
/// grant it was opened with. The session id itself is never stored, only its hash.
public struct SessionRecord: Sendable, Equatable {
    public var idHash: String
    public var userID: Int64
    public var clientID: String
    public var grantID: String
    /// The version the child answered `initialize` with.
    public var protocolVersion: String
    /// The client's `initialize` request, as sent.
    public var initialize: [UInt8]
    /// The client's `notifications/initialized`, once it arrived.
    public var initialized: [UInt8]?
    /// The last `logging/setLevel` level the client asked for.
    public var logLevel: String?
    /// Resource URIs the client is subscribed to.
    public var subscriptions: [String]
    public var createdAt: Date

    public init(idHash: String, userID: Int64, clientID: String, grantID: String, protocolVersion: String, initialize: [UInt8],
                initialized: [UInt8]? = nil, logLevel: String? = nil, subscriptions: [String] = [], createdAt: Date) {
        self.idHash = idHash
        self.userID = userID
        self.clientID = clientID
        self.grantID = grantID
        self.protocolVersion = protocolVersion
        self.initialize = initialize
        self.initialized = initialized
        self.logLevel = logLevel
        self.subscriptions = subscriptions
        self.createdAt = createdAt
    }
}

/// An authorization request between `/oauth/authorize` and `/oauth/callback`, kept server-side
/// so nothing the browser carries can alter it.
public struct PendingAuthorizationRecord: Sendable, Equatable {
    public var id: String
    public var clientID: String
    public var redirectURI: String
    public var clientState: String?
    public var codeChallenge: String
    public var scope: String
    public var resource: String
    /// Hash of the browser-binding cookie value set when the request was created.
    public var browserBindingHash: String
    /// Hash of the `state` sent to Forgejo; set only after consent (MCP security guidance).
    public var upstreamStateHash: String?
    /// Sealed PKCE verifier for the Forgejo leg.
    public var upstreamVerifierSealed: String?
    public var createdAt: Date
    public var expiresAt: Date

    public init(id: String, clientID: String, redirectURI: String, clientState: String?, codeChallenge: String,
                scope: String, resource: String, browserBindingHash: String, upstreamStateHash: String? = nil,
                upstreamVerifierSealed: String? = nil, createdAt: Date, expiresAt: Date) {
        self.id = id
        self.clientID = clientID
        self.redirectURI = redirectURI
        self.clientState = clientState
        self.codeChallenge = codeChallenge
        self.scope = scope
        self.resource = resource
        self.browserBindingHash = browserBindingHash
        self.upstreamStateHash = upstreamStateHash
        self.upstreamVerifierSealed = upstreamVerifierSealed
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

public struct AuthorizationCodeRecord: Sendable, Equatable {
    public var codeHash: String
    public var grantID: String
    public var clientID: String
    public var redirectURI: String
    public var codeChallenge: String
    public var resource: String
    public var scope: String
    public var expiresAt: Date
    public var usedAt: Date?

    public init(codeHash: String, grantID: String, clientID: String, redirectURI: String, codeChallenge: String,
                resource: String, scope: String, expiresAt: Date, usedAt: Date? = nil) {
        self.codeHash = codeHash
        self.grantID = grantID
        self.clientID = clientID
        self.redirectURI = redirectURI
        self.codeChallenge = codeChallenge
        self.resource = resource
        self.scope = scope
        self.expiresAt = expiresAt
        self.usedAt = usedAt
    }
}

public struct AccessTokenRecord: Sendable, Equatable {
    public var tokenHash: String
    public var grantID: String
    public var clientID: String
    public var userID: Int64
    public var resource: String
    public var scope: String
    public var expiresAt: Date
    public var createdAt: Date

    public init(tokenHash: String, grantID: String, clientID: String, userID: Int64, resource: String, scope: String,
                expiresAt: Date, createdAt: Date) {
        self.tokenHash = tokenHash
        self.grantID = grantID
        self.clientID = clientID
        self.userID = userID
        self.resource = resource
        self.scope = scope
        self.expiresAt = expiresAt
        self.createdAt = createdAt
    }
}

public struct RefreshTokenRecord: Sendable, Equatable {
    public var tokenHash: String
    public var grantID: String
    public var clientID: String
    public var expiresAt: Date
    public var createdAt: Date
    /// Set when the token was exchanged for a successor; reuse after the grace window revokes the grant.
    public var rotatedAt: Date?
    /// The successor token response, sealed, kept only during the grace window so a client whose
    /// response was lost gets the same answer again instead of being logged out.
    public var successorSealed: String?
    /// The successor's hash, recorded at rotation: once the successor has been redeemed itself,
    /// this token is no longer honoured, even inside the grace window. Nil for tokens rotated
    /// before the link was recorded (the grace window alone applies to them).
    public var successorHash: String?

    public init(tokenHash: String, grantID: String, clientID: String, expiresAt: Date, createdAt: Date,
                rotatedAt: Date? = nil, successorSealed: String? = nil, successorHash: String? = nil) {
        self.tokenHash = tokenHash
        self.grantID = grantID
        self.clientID = clientID
        self.expiresAt = expiresAt
        self.createdAt = createdAt
        self.rotatedAt = rotatedAt
        self.successorSealed = successorSealed
        self.successorHash = successorHash
    }
}

/// Rows removed by one cleanup pass, for the log line and tests.
public struct CleanupCounts: Sendable, Equatable {
    public var pendingAuthorizations = 0
    public var authorizationCodes = 0
    public var accessTokens = 0
    public var refreshTokens = 0
    public var grants = 0
    public var clients = 0
    public var sessions = 0

    public init() {}
    public var total: Int { pendingAuthorizations + authorizationCodes + accessTokens + refreshTokens + grants + clients + sessions }
}
