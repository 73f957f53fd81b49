import Foundation
import XCTest

@testable import BrokerKit

/// A user's upstream token-set version never repeats, across deletes too: a refresh or a verdict
/// about a version read before `deleteUpstreamTokens` (revocation, a refused login, a dead
/// grant) must not act on the set a later login stored, even though that login is the first
/// set since the delete.
extension StoreSuite {
    /// A stored set's version, read the way a refresh reads it before talking to Forgejo.
    private func storedVersion(of userID: Int64) async throws -> Int64 {
        let record = try await store.upstreamTokens(userID: userID)
        return try XCTUnwrap(record).version
    }

    /// Reads version `v`, then a delete and a new login happen; returns `v`.
    private func versionReadBeforeDeleteAndLogin() async throws -> Int64 {
        try await store.upsertUser(user(1))
        try await store.replaceUpstreamTokens(userID: 1, sealed: "old-lineage", accessExpiresAt: now, now: now)
        let read = try await storedVersion(of: 1)
        try await store.deleteUpstreamTokens(userID: 1)
        try await store.replaceUpstreamTokens(userID: 1, sealed: "new-login", accessExpiresAt: now, now: now)
        return read
    }

    func testASwapFromBeforeADeleteLosesToTheNextLogin() async throws {
        let read = try await versionReadBeforeDeleteAndLogin()
        let swapped = try await store.swapUpstreamTokens(userID: 1, expectedVersion: read, sealed: "old-lineage-refreshed",
                                                         accessExpiresAt: now, now: now)
        XCTAssertNil(swapped, "a refresh of the deleted lineage must not overwrite the new login's set")
        let stored = try await store.upstreamTokens(userID: 1)
        XCTAssertEqual(stored?.sealed, "new-login")
        XCTAssertGreaterThan(try XCTUnwrap(stored?.version), read)
    }

    func testAConditionalDeleteFromBeforeADeleteSparesTheNextLogin() async throws {
        let read = try await versionReadBeforeDeleteAndLogin()
        let deleted = try await store.deleteUpstreamTokens(userID: 1, expectedVersion: read)
        XCTAssertFalse(deleted, "a verdict about the deleted lineage must not delete the new login's set")
        let stored = try await store.upstreamTokens(userID: 1)
        XCTAssertEqual(stored?.sealed, "new-login")
    }

    func testADeletedSetReadsAsNoneAndCannotBeSwappedBack() async throws {
        try await store.upsertUser(user(1))
        try await store.replaceUpstreamTokens(userID: 1, sealed: "s1", accessExpiresAt: now, now: now)
        let read = try await storedVersion(of: 1)
        let deleted = try await store.deleteUpstreamTokens(userID: 1, expectedVersion: read)
        XCTAssertTrue(deleted)
        let stored = try await store.upstreamTokens(userID: 1)
        XCTAssertNil(stored)
        let deletedAgain = try await store.deleteUpstreamTokens(userID: 1, expectedVersion: read)
        XCTAssertFalse(deletedAgain, "nothing is left to delete")
        let swapped = try await store.swapUpstreamTokens(userID: 1, expectedVersion: read, sealed: "s2", accessExpiresAt: now, now: now)
        XCTAssertNil(swapped, "a refresh racing a revocation must not bring the set back")
        let afterSwap = try await store.upstreamTokens(userID: 1)
        XCTAssertNil(afterSwap)
    }

    /// The race itself, in every interleaving the engine picks: whether the refresh lands before
    /// the delete, between the delete and the login or after the login, the login's set is what
    /// stays.
    func testARefreshRacingADeleteAndALoginNeverOverwritesTheLogin() async throws {
        let store: any StoreEngine = self.store
        let now = self.now
        for userID in Int64(1)...20 {
            try await store.upsertUser(user(userID))
            try await store.replaceUpstreamTokens(userID: userID, sealed: "old-lineage", accessExpiresAt: nil, now: now)
            let read = try await storedVersion(of: userID)
            async let refresh = store.swapUpstreamTokens(userID: userID, expectedVersion: read, sealed: "old-lineage-refreshed",
                                                        accessExpiresAt: nil, now: now)
            try await store.deleteUpstreamTokens(userID: userID)
            try await store.replaceUpstreamTokens(userID: userID, sealed: "new-login", accessExpiresAt: nil, now: now)
            _ = try await refresh
            let stored = try await store.upstreamTokens(userID: userID)
            XCTAssertEqual(stored?.sealed, "new-login", "user \(userID)")
        }
    }

    func testCleanupKeepsTheVersionOfADeletedSet() async throws {
        let read = try await versionReadBeforeDeleteAndLogin()
        let login = try await storedVersion(of: 1)
        try await store.deleteUpstreamTokens(userID: 1)
        _ = try await store.deleteExpired(now: now + 10 * 365 * 86400, refreshGrace: 0, retention: 0)
        let next = try await store.replaceUpstreamTokens(userID: 1, sealed: "next-login", accessExpiresAt: nil, now: now)
        XCTAssertGreaterThan(next, login)
        XCTAssertGreaterThan(login, read)
    }

    func testVersionsKeepRisingAcrossDeletesAndLogins() async throws {
        try await store.upsertUser(user(1))
        var seen: [Int64] = []
        for round in 0..<3 {
            seen.append(try await store.replaceUpstreamTokens(userID: 1, sealed: "login-\(round)", accessExpiresAt: nil, now: now))
            let refreshed = try await store.swapUpstreamTokens(userID: 1, expectedVersion: try XCTUnwrap(seen.last),
                                                               sealed: "refresh-\(round)", accessExpiresAt: nil, now: now)
            seen.append(try XCTUnwrap(refreshed))
            if round.isMultiple(of: 2) {
                try await store.deleteUpstreamTokens(userID: 1)
            } else {
                let deleted = try await store.deleteUpstreamTokens(userID: 1, expectedVersion: try XCTUnwrap(seen.last))
                XCTAssertTrue(deleted)
            }
        }
        XCTAssertEqual(seen, seen.sorted(), "versions: \(seen)")
        XCTAssertEqual(Set(seen).count, seen.count, "versions: \(seen)")
    }
}
