import GRDB
@testable import BrokerKit
import Foundation
import XCTest

final class SQLiteStoreTests: XCTestCase {
    var dir: TemporaryDirectory!
    var store: SQLiteStore!
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    override func setUp() async throws {
        dir = try TemporaryDirectory()
        store = try SQLiteStore(path: dir.path + "/data/broker.sqlite")
    }

    override func tearDown() async throws {
        try store.close()
        store = nil
        dir = nil
    }

    func testCreatesPrivateFileAndDirectoryAndPragmas() throws {
        var info = stat()
        XCTAssertEqual(stat(dir.path + "/data/broker.sqlite", &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        XCTAssertEqual(stat(dir.path + "/data", &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o700)
        XCTAssertEqual(try store.pragma("journal_mode"), "wal")
        XCTAssertEqual(try store.pragma("foreign_keys"), "1")
        XCTAssertGreaterThanOrEqual(Int(try store.pragma("busy_timeout") ?? "0") ?? 0, 5000)
    }

    func testMigrationsAreIdempotent() async throws {
        let first = try store.appliedMigrations()
        XCTAssertEqual(first, ["v1-initial", "v2-login-nocase", "v3-refresh-successor-hash", "v4-abuse-bounds", "v5-mcp-sessions", "v6-audit"])
        try await store.upsertUser(user(1))
        try store.close()
        store = try SQLiteStore(path: dir.path + "/data/broker.sqlite")
        XCTAssertEqual(try store.appliedMigrations(), first)
        let reloaded = try await store.user(id: 1)
        XCTAssertEqual(reloaded?.login, "alice")
    }

    func testCorruptDatabaseIsAClearError() throws {
        let path = dir.path + "/corrupt.sqlite"
        try Data(repeating: 0x42, count: 4096).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try SQLiteStore(path: path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot open database \(path):"), "\(error)")
        }
    }

    func testUnusableDataDirectoryIsAClearError() throws {
        let file = dir.path + "/plainfile"
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data()))
        XCTAssertThrowsError(try SQLiteStore(path: file + "/broker.sqlite")) { error in
            XCTAssertEqual("\(error)", "cannot use data directory \(file): not a directory")
        }
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
        let store = self.store!
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

    func testLoginLookupIsCaseInsensitiveAndIndexed() async throws {
        try await store.upsertUser(user(1))
        let found = try await store.user(login: "ALICE")
        XCTAssertEqual(found?.id, 1)
        let plan = try await store.pool.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT * FROM users WHERE login = ? COLLATE NOCASE ORDER BY updated_at DESC LIMIT 1",
                             arguments: ["alice"]).map { $0["detail"] as String? ?? "" }
        }
        XCTAssertTrue(plan.joined().contains("users_login_nocase"), "plan: \(plan)")
    }

    private func user(_ id: Int64) -> UserRecord {
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
