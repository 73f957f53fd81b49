import Foundation
import Hummingbird

/// Validates broker access tokens on `/mcp`: O(1) (hash lookup, then a short cache), audience
/// bound to the MCP resource, and revocation-aware. Tokens in the query string are ignored on
/// purpose (MCP authorization rules: header only).
public final class BearerAuthenticator: Sendable {
    private let store: any BrokerStore
    private let resource: String
    private let resourceMetadataURL: String
    private let clock: OAuthClock
    private let cache: AccessTokenCache
    /// Tells the other broker processes on the database when a user is revoked here; nil on SQLite.
    private let changes: (any StoreChangePublisher)?

    public init(config: BrokerConfig, store: any BrokerStore, clock: OAuthClock = .system,
                cacheTTL: TimeInterval = 30, cacheCapacity: Int = 10_000, changes: (any StoreChangePublisher)? = nil) {
        self.store = store
        self.changes = changes
        self.resource = config.mcpResource
        self.resourceMetadataURL = config.issuer + "/.well-known/oauth-protected-resource/mcp"
        self.clock = clock
        self.cache = AccessTokenCache(ttl: cacheTTL, capacity: cacheCapacity)
    }

    /// The `WWW-Authenticate` challenge for an unauthenticated request (for other endpoints
    /// that need to answer 401 themselves).
    public var missingTokenChallenge: String { error(.missing).challenge }

    public func authenticate(_ request: Request, context: BrokerRequestContext) async throws -> AuthenticatedPrincipal {
        let token: String
        do {
            token = try AuthorizationHeader.bearerToken(request.headers[values: .authorization])
        } catch {
            throw self.error(error == .missing ? .missing : .malformed)
        }
        return try await authenticate(token: token)
    }

    public func authenticate(token: String) async throws(BearerError) -> AuthenticatedPrincipal {
        guard token.hasPrefix(OpaqueToken.Kind.accessToken.rawValue), token.utf8.count <= 256 else { throw error(.malformed) }
        let hash = TokenHasher.hash(token)
        let started = clock.now()
        if let cached = cache.principal(hash: hash, now: started) { return cached }
        let record: AccessTokenRecord?
        let user: UserRecord?
        do {
            record = try await store.activeAccessToken(hash: hash)
            user = try await record.asyncFlatMap { try await store.user(id: $0.userID) }
        } catch {
            // A store outage must not look like a bad token (that would log clients out).
            throw self.error(.unavailable)
        }
        guard let record, let user else { throw error(.unknown) }
        guard record.expiresAt > started else { throw error(.expired) }
        guard ResourceIndicator.matches(record.resource, resource: resource) else { throw error(.wrongAudience) }
        let principal = AuthenticatedPrincipal(userID: record.userID, login: user.login, clientID: record.clientID,
                                               grantID: record.grantID, scope: record.scope, expiresAt: record.expiresAt)
        cache.insert(hash: hash, principal: principal, lookupStarted: started, now: clock.now())
        return principal
    }

    /// Drops cached tokens of a grant that was revoked elsewhere (admin command, reaper).
    public func invalidate(grantID: String) {
        cache.invalidate(grantID: grantID, now: clock.now())
    }

    /// Drops cached tokens of a grant another broker process revoked (it names user and client).
    public func invalidate(userID: Int64, clientID: String) {
        cache.invalidate(userID: userID, clientID: clientID, now: clock.now())
    }

    /// Drops cached tokens of a user another broker process revoked.
    public func invalidate(userID: Int64) {
        cache.invalidate(userID: userID, now: clock.now())
    }

    /// Drops every cached token: revocations by other broker processes may have been missed.
    public func invalidateAll() {
        cache.removeAll(now: clock.now())
    }

    /// Revokes every grant of the user (e.g. their Forgejo grant is gone) and drops their
    /// cached tokens, here and (through the change feed) in the other broker processes on the
    /// database. Returns the revoked grant ids.
    @discardableResult
    public func revokeUser(userID: Int64) async throws -> [String] {
        let now = clock.now()
        let revoked = try await store.revokeGrants(userID: userID, now: now)
        cache.invalidate(userID: userID, now: now)
        await changes?.publish(.userRevoked(userID: userID))
        return revoked
    }

    private func error(_ kind: BearerError.Kind) -> BearerError {
        BearerError(kind: kind, resourceMetadataURL: resourceMetadataURL)
    }
}

extension Optional {
    fileprivate func asyncFlatMap<U>(_ transform: (Wrapped) async throws -> U?) async rethrows -> U? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
