@testable import BrokerKit
import Foundation
import XCTest

/// The store suite: every test here runs once per engine (``SQLiteStoreTests``,
/// ``PostgresStoreTests``), each on a store of its own, so both engines are held to one set of
/// semantics. Engine-specific checks (files and pragmas, connection errors) live in the subclasses.
class StoreSuite: XCTestCase {
    var store: (any StoreEngine)!
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    /// A new, empty, migrated store. The base class has no engine: it skips, so only the
    /// subclasses' runs count.
    func makeStore() async throws -> any StoreEngine {
        throw XCTSkip("StoreSuite runs in its engine subclasses")
    }

    /// Every migration, in order; the same identifiers on both engines.
    static let migrations = ["v1-initial", "v2-login-nocase", "v3-refresh-successor-hash", "v4-abuse-bounds", "v5-mcp-sessions", "v6-audit",
                             "v7-upstream-token-tombstones", "v8-replicas"]

    override func setUp() async throws {
        store = try await makeStore()
    }

    override func tearDown() async throws {
        await store?.shutdown()
        store = nil
    }

    func testCaseInsensitiveLoginLookupPrefersTheLatestUser() async throws {
        try await store.upsertUser(user(1))
        try await store.upsertUser(UserRecord(id: 2, login: "Alice", createdAt: now, updatedAt: now + 10))
        let found = try await store.user(login: "ALICE")
        XCTAssertEqual(found?.id, 2)
        let missing = try await store.user(login: "bob")
        XCTAssertNil(missing)
    }

    func testSessionRecordsResumeUntilEndedOrRevoked() async throws {
        try await store.upsertUser(user(1))
        _ = try await store.upsertGrant(userID: 1, clientID: "c1", scope: "", resource: "r", newID: "g1", now: now)
        let session = SessionRecord(idHash: "s1", userID: 1, clientID: "c1", grantID: "g1", protocolVersion: "2025-06-18",
                                    initialize: Array("{\"init\":1}".utf8), initialized: nil, logLevel: nil, subscriptions: [],
                                    createdAt: now)
        try await store.insertSession(session)
        try await store.insertSession(SessionRecord(idHash: "s2", userID: 1, clientID: "c1", grantID: "g1", protocolVersion: "2025-06-18",
                                                    initialize: Array("{\"init\":2}".utf8), initialized: nil, logLevel: nil,
                                                    subscriptions: [], createdAt: now))
        try await store.updateSessionState(idHash: "s1", initialized: [1, 2], logLevel: "debug", subscriptions: ["file:///a"])
        let live = try await store.liveSession(idHash: "s1")
        XCTAssertEqual(live?.initialized, [1, 2])
        XCTAssertEqual(live?.logLevel, "debug")
        XCTAssertEqual(live?.subscriptions, ["file:///a"])
        let latest = try await store.latestInitialize(userID: 1, clientID: "c1")
        XCTAssertEqual(latest, Array("{\"init\":2}".utf8), "the later of two sessions opened in the same second")
        try await store.endSession(idHash: "s1", reason: "closed", now: now)
        let ended = try await store.liveSession(idHash: "s1")
        XCTAssertNil(ended)
        try await store.endSessions(userID: 1, clientID: "other", reason: "revoked", now: now)
        let otherClient = try await store.liveSession(idHash: "s2")
        XCTAssertNotNil(otherClient, "ending another client's sessions leaves this one")
        try await store.endSessions(userID: 1, clientID: nil, reason: "revoked", now: now)
        let allEnded = try await store.liveSession(idHash: "s2")
        XCTAssertNil(allEnded)
    }

    func testLiveSessionsListsEverySessionNotEndedOrRevokedOldestFirst() async throws {
        try await store.upsertUser(user(1))
        _ = try await store.upsertGrant(userID: 1, clientID: "c1", scope: "", resource: "r", newID: "g1", now: now)
        _ = try await store.upsertGrant(userID: 1, clientID: "c2", scope: "", resource: "r", newID: "g2", now: now)
        func session(_ idHash: String, grant: String, client: String, at offset: TimeInterval) -> SessionRecord {
            SessionRecord(idHash: idHash, userID: 1, clientID: client, grantID: grant, protocolVersion: "2025-06-18",
                          initialize: Array("{}".utf8), createdAt: now + offset)
        }
        let empty = try await store.liveSessions()
        XCTAssertEqual(empty, [])
        for record in [session("s3", grant: "g1", client: "c1", at: 2), session("s1", grant: "g1", client: "c1", at: 0),
                       session("s2", grant: "g2", client: "c2", at: 1), session("s0", grant: "g1", client: "c1", at: 1)] {
            try await store.insertSession(record)
        }
        try await store.endSession(idHash: "s3", reason: "closed", now: now)
        let live = try await store.liveSessions()
        XCTAssertEqual(live, [session("s1", grant: "g1", client: "c1", at: 0), session("s0", grant: "g1", client: "c1", at: 1),
                              session("s2", grant: "g2", client: "c2", at: 1)], "oldest first, one second's by id hash")
        _ = try await store.revokeGrant(id: "g2", now: now)
        let afterRevoke = try await store.liveSessions()
        XCTAssertEqual(afterRevoke.map(\.idHash), ["s1", "s0"], "a revoked grant's sessions cannot be resumed")
    }

    func testAuditRecordsFilterNewestFirstAndPurge() async throws {
        let records = [
            AuditRecord(time: now, event: .toolCall, user: "Alice", client: "c1", tool: "t", durationMs: 12, outcome: "ok", requestID: "r1"),
            AuditRecord(time: now + 1, event: .toolCall, user: "bob", client: "c2", outcome: "ok"),
            AuditRecord(time: now + 2, event: .toolCall, user: "alice", client: "c2", outcome: "error", detail: "d"),
        ]
        try await store.insertAuditRecords(records)
        let all = try await store.auditRecords(AuditQuery())
        XCTAssertEqual(all.map(\.time), [now + 2, now + 1, now])
        XCTAssertEqual(all.last, records[0])
        let alice = try await store.auditRecords(AuditQuery(user: "ALICE"))
        XCTAssertEqual(alice.count, 2)
        let c2Recent = try await store.auditRecords(AuditQuery(client: "c2", since: now + 2))
        XCTAssertEqual(c2Recent.map(\.detail), ["d"])
        let limited = try await store.auditRecords(AuditQuery(limit: 1))
        XCTAssertEqual(limited.count, 1)
        let purged = try await store.deleteAuditRecords(before: now + 1)
        XCTAssertEqual(purged, 1)
    }

    /// A client's tool name with U+0000 (PostgreSQL text cannot hold it) is stored with the rest
    /// of its batch, not the reason the batch, and other users' records in it, are lost.
    func testAnAuditBatchWithANulInAClientsTextIsStoredWhole() async throws {
        let records = [
            AuditRecord(time: now, event: .toolCall, user: "alice", client: "c\u{0}1", tool: "get\u{0}_me", outcome: "refused"),
            AuditRecord(time: now + 1, event: .toolCall, user: "bob", client: "c2", tool: "list_repos", outcome: "ok"),
        ]
        try await store.insertAuditRecords(records)
        let stored = try await store.auditRecords(AuditQuery())
        XCTAssertEqual(stored.map(\.user), ["bob", "alice"])
        XCTAssertEqual(stored.first, records[1])
        XCTAssertTrue(stored.last?.tool?.hasPrefix("get") ?? false)
    }

    func testUpstreamTokenCompareAndSwap() async throws {
        try await store.upsertUser(user(1))
        let v1 = try await store.replaceUpstreamTokens(userID: 1, sealed: "sealed-1", accessExpiresAt: now, now: now)
        XCTAssertEqual(v1, 1)
        let v2 = try await store.swapUpstreamTokens(userID: 1, expectedVersion: v1, sealed: "sealed-2", accessExpiresAt: now, now: now)
        XCTAssertEqual(v2, 2)
        let lost = try await store.swapUpstreamTokens(userID: 1, expectedVersion: v1, sealed: "sealed-stale", accessExpiresAt: now, now: now)
        XCTAssertNil(lost, "a writer holding an old version must lose")
        let stored = try await store.upstreamTokens(userID: 1)
        XCTAssertEqual(stored?.sealed, "sealed-2")
        XCTAssertEqual(stored?.version, 2)
        let v3 = try await store.replaceUpstreamTokens(userID: 1, sealed: "sealed-login", accessExpiresAt: nil, now: now)
        XCTAssertEqual(v3, 3)
    }

    func testConcurrentSwapsHaveExactlyOneWinnerPerVersion() async throws {
        try await store.upsertUser(user(1))
        _ = try await store.replaceUpstreamTokens(userID: 1, sealed: "s", accessExpiresAt: nil, now: now)
        let store: any StoreEngine = self.store
        let now = self.now
        let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<8 {
                group.addTask { try await store.swapUpstreamTokens(userID: 1, expectedVersion: 1, sealed: "s\(index)", accessExpiresAt: nil, now: now) != nil }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        XCTAssertEqual(winners, 1)
    }

    func testEmptySealedTokensAreRejected() async throws {
        try await store.upsertUser(user(1))
        do {
            _ = try await store.replaceUpstreamTokens(userID: 1, sealed: "", accessExpiresAt: nil, now: now)
            XCTFail("an empty token set must never be stored")
        } catch {}
    }

    func testGrantRevocationKillsEverythingIssuedFromIt() async throws {
        try await store.upsertUser(user(1))
        try await store.insertClient(client("c1"))
        let grant = try await store.upsertGrant(userID: 1, clientID: "c1", scope: "", resource: "r", newID: "g1", now: now)
        let again = try await store.upsertGrant(userID: 1, clientID: "c1", scope: "x", resource: "r", newID: "g2", now: now)
        XCTAssertEqual(again.id, grant.id, "one active grant per user and client")
        try await store.insertAccessToken(AccessTokenRecord(tokenHash: "at", grantID: "g1", clientID: "c1", userID: 1, resource: "r",
                                                            scope: "", expiresAt: now + 3600, createdAt: now))
        try await store.insertRefreshToken(RefreshTokenRecord(tokenHash: "rt", grantID: "g1", clientID: "c1", expiresAt: now + 3600, createdAt: now))
        try await store.insertAuthorizationCode(code("ac", grant: "g1"))
        let activeToken = try await store.activeAccessToken(hash: "at")
        XCTAssertNotNil(activeToken)
        let revoked = try await store.revokeGrant(id: "g1", now: now)
        XCTAssertTrue(revoked)
        let revokedAgain = try await store.revokeGrant(id: "g1", now: now)
        XCTAssertFalse(revokedAgain)
        let token = try await store.activeAccessToken(hash: "at")
        let refresh = try await store.activeRefreshToken(hash: "rt")
        let consumption = try await store.consumeAuthorizationCode(hash: "ac", now: now)
        XCTAssertNil(token)
        XCTAssertNil(refresh)
        XCTAssertEqual(consumption, .notFound)
        let fresh = try await store.upsertGrant(userID: 1, clientID: "c1", scope: "", resource: "r", newID: "g3", now: now)
        XCTAssertEqual(fresh.id, "g3", "a revoked grant is never reused")
    }

    func testCodesAreSingleUseAndReplayIsReported() async throws {
        try await store.upsertUser(user(1))
        _ = try await store.upsertGrant(userID: 1, clientID: "c1", scope: "", resource: "r", newID: "g1", now: now)
        try await store.insertAuthorizationCode(code("ac", grant: "g1"))
        guard case .consumed(let record) = try await store.consumeAuthorizationCode(hash: "ac", now: now) else {
            return XCTFail("first use must consume")
        }
        XCTAssertEqual(record.grantID, "g1")
        guard case .replayed(let replayed) = try await store.consumeAuthorizationCode(hash: "ac", now: now) else {
            return XCTFail("second use must be reported as a replay")
        }
        XCTAssertEqual(replayed.grantID, "g1")
    }

    func testRefreshRotationIsAtomic() async throws {
        try await store.upsertUser(user(1))
        _ = try await store.upsertGrant(userID: 1, clientID: "c1", scope: "", resource: "r", newID: "g1", now: now)
        try await store.insertRefreshToken(RefreshTokenRecord(tokenHash: "rt1", grantID: "g1", clientID: "c1", expiresAt: now + 100, createdAt: now))
        let successor = RefreshTokenRecord(tokenHash: "rt2", grantID: "g1", clientID: "c1", expiresAt: now + 100, createdAt: now)
        let rotated = try await store.rotateRefreshToken(hash: "rt1", successor: successor, successorSealed: "sealed", now: now)
        XCTAssertTrue(rotated)
        let second = RefreshTokenRecord(tokenHash: "rt3", grantID: "g1", clientID: "c1", expiresAt: now + 100, createdAt: now)
        let rotatedAgain = try await store.rotateRefreshToken(hash: "rt1", successor: second, successorSealed: "sealed", now: now)
        XCTAssertFalse(rotatedAgain)
        let old = try await store.activeRefreshToken(hash: "rt1")
        XCTAssertEqual(old?.successorSealed, "sealed")
        XCTAssertNotNil(old?.rotatedAt)
        let missing = try await store.activeRefreshToken(hash: "rt3")
        XCTAssertNil(missing)
    }

    func testPendingAuthorizationIsTakenOnce() async throws {
        let pending = PendingAuthorizationRecord(id: "p1", clientID: "c1", redirectURI: "https://c/cb", clientState: "s",
                                                 codeChallenge: "ch", scope: "", resource: "r", browserBindingHash: "b",
                                                 createdAt: now, expiresAt: now + 600)
        try await store.insertPendingAuthorization(pending)
        try await store.beginUpstreamLeg(pendingID: "p1", upstreamStateHash: "us", upstreamVerifierSealed: "v")
        let byState = try await store.pendingAuthorization(upstreamStateHash: "us")
        XCTAssertEqual(byState?.id, "p1")
        let taken = try await store.takePendingAuthorization(id: "p1")
        XCTAssertEqual(taken?.upstreamVerifierSealed, "v")
        let takenAgain = try await store.takePendingAuthorization(id: "p1")
        XCTAssertNil(takenAgain)
    }

    func testCleanupRemovesOnlyExpiredRows() async throws {
        try await store.upsertUser(user(1))
        _ = try await store.upsertGrant(userID: 1, clientID: "c1", scope: "", resource: "r", newID: "g1", now: now)
        try await store.insertPendingAuthorization(PendingAuthorizationRecord(
            id: "old", clientID: "c1", redirectURI: "u", clientState: nil, codeChallenge: "c", scope: "", resource: "r",
            browserBindingHash: "b", createdAt: now - 700, expiresAt: now - 100))
        try await store.insertPendingAuthorization(PendingAuthorizationRecord(
            id: "new", clientID: "c1", redirectURI: "u", clientState: nil, codeChallenge: "c", scope: "", resource: "r",
            browserBindingHash: "b", createdAt: now, expiresAt: now + 600))
        try await store.insertAccessToken(AccessTokenRecord(tokenHash: "expired", grantID: "g1", clientID: "c1", userID: 1,
                                                            resource: "r", scope: "", expiresAt: now - 1, createdAt: now - 3600))
        try await store.insertAccessToken(AccessTokenRecord(tokenHash: "live", grantID: "g1", clientID: "c1", userID: 1,
                                                            resource: "r", scope: "", expiresAt: now + 1, createdAt: now))
        try await store.insertRefreshToken(RefreshTokenRecord(tokenHash: "r-old", grantID: "g1", clientID: "c1", expiresAt: now + 100,
                                                              createdAt: now - 200, rotatedAt: now - 120, successorSealed: "x"))
        let counts = try await store.deleteExpired(now: now, refreshGrace: 60, retention: 30 * 24 * 3600)
        XCTAssertEqual(counts.pendingAuthorizations, 1)
        XCTAssertEqual(counts.accessTokens, 1)
        XCTAssertEqual(counts.refreshTokens, 0)
        let live = try await store.activeAccessToken(hash: "live")
        XCTAssertNotNil(live)
        let rotated = try await store.activeRefreshToken(hash: "r-old")
        XCTAssertNotNil(rotated, "rotated tokens stay until expiry so reuse is still detected")
        XCTAssertNil(rotated?.successorSealed, "the sealed successor is dropped after the grace window")
    }

    func testCleanupPurgesLongRevokedGrantsAndAbandonedClientsOnly() async throws {
        let retention: TimeInterval = 30 * 24 * 3600
        try await store.upsertUser(user(1))
        try await store.upsertUser(user(2))
        // c-used has a live grant; c-revoked's grant was revoked long ago; c-recent was revoked
        // just now; c-abandoned never got a grant; c-new is too young to call abandoned.
        for id in ["c-used", "c-revoked", "c-recent", "c-abandoned"] {
            try await store.insertClient(client(id, createdAt: now - retention - 10))
        }
        try await store.insertClient(client("c-new", createdAt: now - 10))
        try await store.insertClient(client("c-pending", createdAt: now - retention - 10))
        try await store.insertPendingAuthorization(PendingAuthorizationRecord(
            id: "p", clientID: "c-pending", redirectURI: "u", clientState: nil, codeChallenge: "c", scope: "", resource: "r",
            browserBindingHash: "b", createdAt: now, expiresAt: now + 600))
        _ = try await store.upsertGrant(userID: 1, clientID: "c-used", scope: "", resource: "r", newID: "g-used", now: now - retention - 5)
        _ = try await store.upsertGrant(userID: 1, clientID: "c-revoked", scope: "", resource: "r", newID: "g-old", now: now - retention - 5)
        try await store.revokeGrant(id: "g-old", now: now - retention - 1)
        _ = try await store.upsertGrant(userID: 2, clientID: "c-recent", scope: "", resource: "r", newID: "g-recent", now: now - retention - 5)
        try await store.revokeGrant(id: "g-recent", now: now - 60)
        try await store.upsertClient(ClientRecord(
            clientID: "https://stale.example/cimd", kind: .metadataDocument, secretHash: nil, name: "Stale", redirectURIs: ["https://c/cb"],
            tokenEndpointAuthMethod: "none", metadataJSON: "{}", createdAt: now - 7200, expiresAt: now - 3600))
        try await store.upsertClient(ClientRecord(
            clientID: "https://fresh.example/cimd", kind: .metadataDocument, secretHash: nil, name: "Fresh", redirectURIs: ["https://c/cb"],
            tokenEndpointAuthMethod: "none", metadataJSON: "{}", createdAt: now - 60, expiresAt: now + 3600))

        let counts = try await store.deleteExpired(now: now, refreshGrace: 60, retention: retention)

        XCTAssertEqual(counts.grants, 1, "only the grant revoked before the retention window")
        let oldGrant = try await store.grant(id: "g-old")
        let recentGrant = try await store.grant(id: "g-recent")
        let usedGrant = try await store.grant(id: "g-used")
        XCTAssertNil(oldGrant)
        XCTAssertNotNil(recentGrant)
        XCTAssertNotNil(usedGrant)
        XCTAssertEqual(counts.clients, 3, "c-revoked (its grant is gone now), c-abandoned and the stale metadata document")
        for gone in ["c-revoked", "c-abandoned", "https://stale.example/cimd"] {
            let client = try await store.client(id: gone)
            XCTAssertNil(client, gone)
        }
        for kept in ["c-used", "c-recent", "c-new", "c-pending", "https://fresh.example/cimd"] {
            let client = try await store.client(id: kept)
            XCTAssertNotNil(client, kept)
        }
    }

    func user(_ id: Int64) -> UserRecord {
        UserRecord(id: id, login: "alice", createdAt: now, updatedAt: now)
    }

    private func client(_ id: String, createdAt: Date? = nil) -> ClientRecord {
        ClientRecord(clientID: id, kind: .dynamic, secretHash: nil, name: "Client", redirectURIs: ["https://c/cb"],
                     tokenEndpointAuthMethod: "none", metadataJSON: "{}", createdAt: createdAt ?? now)
    }

    private func code(_ hash: String, grant: String) -> AuthorizationCodeRecord {
        AuthorizationCodeRecord(codeHash: hash, grantID: grant, clientID: "c1", redirectURI: "https://c/cb", codeChallenge: "ch",
                                resource: "r", scope: "", expiresAt: now + 60)
    }
}
