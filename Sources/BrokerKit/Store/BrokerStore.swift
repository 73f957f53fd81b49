import Foundation

/// Durable broker state. Callers depend only on this protocol so that a PostgreSQL
/// implementation can replace SQLite without touching them; every method is one transaction.
/// Times are passed in by callers (never read from the system clock here) so token lifetimes
/// are testable with a controlled clock.
public protocol BrokerStore: Sendable {
    /// A trivial query, for readiness checks.
    func ping() async throws

    // MARK: Users
    func upsertUser(_ user: UserRecord) async throws
    func user(id: Int64) async throws -> UserRecord?
    func user(login: String) async throws -> UserRecord?

    // MARK: Upstream (Forgejo) token sets
    //
    // A user's set carries a version that every write raises and that never repeats, deletes
    // included: a delete leaves a tombstone (no set, the version kept) that reads as no set and
    // that the next login's write raises. Otherwise a refresh or verdict that read version `v`
    // before a delete could act on a later login's set that restarted at `v` — a refresh would
    // overwrite it with the deleted lineage (which Forgejo retired at the login's exchange) and
    // log the user out. A tombstone takes the place of the set (one row per user at most) and
    // goes only with its user row (ON DELETE CASCADE): `deleteExpired` must not purge it, or the
    // next login's version would restart.

    /// The user's set, or nil when there is none (never stored, or deleted).
    func upstreamTokens(userID: Int64) async throws -> UpstreamTokenRecord?
    /// Stores the token set obtained by a fresh login, replacing whatever was there (a new code
    /// exchange invalidates older refresh tokens at Forgejo anyway). Returns the new version,
    /// later than any the user's sets had before.
    @discardableResult
    func replaceUpstreamTokens(userID: Int64, sealed: String, accessExpiresAt: Date?, now: Date) async throws -> Int64
    /// Compare-and-swap after a refresh: succeeds only if nobody else replaced or deleted the set
    /// since `expectedVersion` was read. Returns the new version, or nil when the caller lost the race.
    func swapUpstreamTokens(userID: Int64, expectedVersion: Int64, sealed: String, accessExpiresAt: Date?, now: Date) async throws -> Int64?
    /// Deletes the user's set (revocation, a refused login): the sealed tokens are gone, the
    /// version stays behind so the next set's is later.
    func deleteUpstreamTokens(userID: Int64) async throws
    /// Deletes the set only if it is still `expectedVersion`: a verdict about one version must
    /// not delete the set a concurrent login or refresh wrote since, even one written after a
    /// delete. Returns whether it deleted.
    func deleteUpstreamTokens(userID: Int64, expectedVersion: Int64) async throws -> Bool
    /// Runs a Forgejo refresh of the user's token set (read, refresh at Forgejo, compare-and-swap)
    /// while no other broker process on the same database refreshes that user's set, so Forgejo
    /// never sees one refresh token redeemed twice. A process already single-flights its own
    /// refreshes; this covers several processes on one database. Engines with one process per
    /// database (SQLite) just run `body`.
    func withUpstreamRefreshLock<Result: Sendable>(userID: Int64, _ body: () async throws -> Result) async throws -> Result

    // MARK: Clients
    func insertClient(_ client: ClientRecord) async throws
    /// Inserts or refreshes a cached metadata-document client.
    func upsertClient(_ client: ClientRecord) async throws
    func client(id: String) async throws -> ClientRecord?
    func clientCount() async throws -> Int
    /// Inserts a dynamically registered client and, if more than `maxGrantless` dynamic clients
    /// never obtained a grant, deletes the oldest of them (those without a sign-in in progress
    /// first). Returns how many were evicted.
    @discardableResult
    func insertClient(_ client: ClientRecord, maxGrantless: Int) async throws -> Int
    /// Deletes dynamic clients created before `createdBefore` that never obtained a grant and
    /// have no sign-in in progress. Returns how many.
    func deleteGrantlessClients(createdBefore: Date) async throws -> Int

    // MARK: Grants
    /// Returns the user's active grant for the client (updating scope/resource and last use), or creates one.
    func upsertGrant(userID: Int64, clientID: String, scope: String, resource: String, newID: String, now: Date) async throws -> GrantRecord
    func grant(id: String) async throws -> GrantRecord?
    func activeGrants(userID: Int64) async throws -> [GrantRecord]
    /// Revokes the grant and deletes every code and token issued from it. Returns false if it
    /// was already revoked or does not exist.
    @discardableResult
    func revokeGrant(id: String, now: Date) async throws -> Bool
    /// Revokes all of a user's grants; returns the ids revoked.
    @discardableResult
    func revokeGrants(userID: Int64, now: Date) async throws -> [String]
    func touchGrant(id: String, now: Date) async throws

    // MARK: Pending authorization requests
    func insertPendingAuthorization(_ pending: PendingAuthorizationRecord) async throws
    /// Inserts within bounds, after deleting expired requests: the browser's own oldest requests
    /// beyond `maxPerBrowser - 1` are dropped; if `maxTotal` requests are still pending, nothing
    /// is inserted and the answer is false.
    func insertPendingAuthorization(_ pending: PendingAuthorizationRecord, maxPerBrowser: Int, maxTotal: Int, now: Date) async throws -> Bool
    func pendingAuthorizationCount() async throws -> Int
    func pendingAuthorization(id: String) async throws -> PendingAuthorizationRecord?
    func pendingAuthorization(upstreamStateHash: String) async throws -> PendingAuthorizationRecord?
    /// Records the Forgejo-leg state and verifier once the user consented.
    func beginUpstreamLeg(pendingID: String, upstreamStateHash: String, upstreamVerifierSealed: String) async throws
    /// Deletes and returns the request, so a callback can be completed at most once.
    func takePendingAuthorization(id: String) async throws -> PendingAuthorizationRecord?

    // MARK: Authorization codes
    func insertAuthorizationCode(_ code: AuthorizationCodeRecord) async throws
    /// Marks the code used and returns it; a second call returns `.replayed` with the record,
    /// so the caller can revoke the grant (OAuth 2.1 §4.1.3).
    func consumeAuthorizationCode(hash: String, now: Date) async throws -> CodeConsumption

    // MARK: Access tokens
    func insertAccessToken(_ token: AccessTokenRecord) async throws
    /// The token's record if it exists and its grant is not revoked (expiry is the caller's check).
    func activeAccessToken(hash: String) async throws -> AccessTokenRecord?
    @discardableResult
    func deleteAccessToken(hash: String) async throws -> Bool

    // MARK: Refresh tokens
    func insertRefreshToken(_ token: RefreshTokenRecord) async throws
    /// The token's record if it exists and its grant is not revoked.
    func activeRefreshToken(hash: String) async throws -> RefreshTokenRecord?
    /// Marks `hash` rotated (only if not rotated yet) and inserts its successor atomically.
    /// Returns false when another request rotated it first.
    func rotateRefreshToken(hash: String, successor: RefreshTokenRecord, successorSealed: String, now: Date) async throws -> Bool

    // MARK: Legacy session records
    func insertSession(_ session: SessionRecord) async throws
    /// The record if the session was not ended and its grant is not revoked.
    func liveSession(idHash: String) async throws -> SessionRecord?
    /// Every session not ended whose grant is not revoked, oldest first: `fjmcp-broker sessions`
    /// in replica mode lists them all, whichever replica runs their child (or none does).
    func liveSessions() async throws -> [SessionRecord]
    func updateSessionState(idHash: String, initialized: [UInt8]?, logLevel: String?, subscriptions: [String]) async throws
    func endSession(idHash: String, reason: String, now: Date) async throws
    /// Ends every session of a user, or of one client of the user (nil: all clients).
    func endSessions(userID: Int64, clientID: String?, reason: String, now: Date) async throws
    /// The `initialize` the client of the user sent most recently (its declared capabilities).
    func latestInitialize(userID: Int64, clientID: String) async throws -> [UInt8]?

    // MARK: Maintenance
    /// Deletes rows that can never be used again. `refreshGrace` bounds how long rotated refresh
    /// tokens (and their sealed successors) are kept; `retention` how long revoked grants and
    /// clients that never obtained a grant are kept.
    func deleteExpired(now: Date, refreshGrace: TimeInterval, retention: TimeInterval) async throws -> CleanupCounts
}

extension BrokerStore {
    public func withUpstreamRefreshLock<Result: Sendable>(userID: Int64, _ body: () async throws -> Result) async throws -> Result {
        try await body()
    }
}

public enum CodeConsumption: Sendable, Equatable {
    case consumed(AuthorizationCodeRecord)
    case replayed(AuthorizationCodeRecord)
    case notFound
}
