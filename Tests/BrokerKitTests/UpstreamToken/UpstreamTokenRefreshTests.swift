import BrokerKit
import FakeForgejo
import Foundation
import XCTest

/// Successful refreshes: persist-before-use, single flight in one process, compare-and-swap
/// between two processes, and an answer without a refresh token.
final class UpstreamTokenRefreshTests: UpstreamTokenTestCase {
    func testStoredTokenIsServedWithoutRefresh() async throws {
        let login = try await harness.login()
        let manager = harness.makeManager()
        let token = try await manager.validAccessToken(userID: userID, minimumRemaining: .seconds(300))
        XCTAssertEqual(token.token, login.accessToken)
        XCTAssertEqual(token.generation, 1)
        XCTAssertEqual(token.expiresAt, harness.clock.now().addingTimeInterval(3600))
        XCTAssertFalse("\(token)".contains(token.token), "description must not leak the token")
        let refreshes = await harness.refreshCount()
        XCTAssertEqual(refreshes, 0)
    }

    func testRefreshStoresTheNewSetBeforeHandingItOut() async throws {
        let login = try await harness.login()
        let manager = harness.makeManager()
        let log = await UpstreamTokenEventLog(manager)
        // The fake signs deterministically: a token issued in the same second as the login's
        // would be byte-identical.
        await harness.advanceClocks(seconds: 60)

        let token = try await manager.refresh(userID: userID)
        XCTAssertNotEqual(token.token, login.accessToken)
        XCTAssertEqual(token.generation, 2)
        let record = try await harness.store.upstreamTokens(userID: userID)
        XCTAssertEqual(record?.version, 2)
        let storedSet = try await harness.storedSet()
        let stored = try XCTUnwrap(storedSet)
        XCTAssertEqual(stored.accessToken, token.token)
        XCTAssertNotNil(stored.refreshToken)
        XCTAssertNotEqual(stored.refreshToken, login.refreshToken)
        let user = try await harness.forgejoClient().currentUser(accessToken: token.token)
        XCTAssertEqual(user.id, userID)
        await upstreamEventually("refreshed event") { await log.refreshedGenerations == [2] }

        // The stored refresh token is the live one at Forgejo (past the per-user rate limit).
        await harness.advanceClocks(seconds: 60)
        let next = try await manager.refresh(userID: userID)
        XCTAssertEqual(next.generation, 3)
        let refreshes = await harness.refreshCount()
        XCTAssertEqual(refreshes, 2)
    }

    func testConcurrentCallersShareOneRefresh() async throws {
        try await harness.login()
        let manager = harness.makeManager()
        harness.clock.advance(seconds: 3500)
        let userID = self.userID
        let tokens = try await withThrowingTaskGroup(of: UpstreamAccessToken.self) { group in
            for _ in 0..<10 {
                group.addTask { try await manager.validAccessToken(userID: userID, minimumRemaining: .seconds(300)) }
            }
            return try await group.reduce(into: [UpstreamAccessToken]()) { $0.append($1) }
        }
        XCTAssertEqual(tokens.count, 10)
        XCTAssertEqual(Set(tokens.map(\.token)).count, 1)
        XCTAssertEqual(Set(tokens.map(\.generation)), [2])
        let refreshes = await harness.refreshCount()
        XCTAssertEqual(refreshes, 1)
    }

    /// Two managers on one SQLite file stand for two broker processes.
    func testTwoProcessesRefreshOncePerExpiryAndTheLoserAdopts() async throws {
        try await harness.login()
        let secondStore = try SQLiteStore(path: harness.databasePath)
        defer { try? secondStore.close() }
        let first = harness.makeManager()
        let second = harness.makeManager(store: secondStore)
        let userID = self.userID
        for round in 1...3 {
            await harness.advanceClocks(seconds: 3500)
            async let fromFirst = first.validAccessToken(userID: userID, minimumRemaining: .seconds(300))
            async let fromSecond = second.validAccessToken(userID: userID, minimumRemaining: .seconds(300))
            let (a, b) = try await (fromFirst, fromSecond)
            XCTAssertEqual(a, b, "round \(round)")
            XCTAssertEqual(a.generation, Int64(round + 1))
            let refreshes = await harness.refreshCount()
            XCTAssertEqual(refreshes, round, "exactly one refresh per expiry")
        }
        let storedSet = try await harness.storedSet()
        let stored = try XCTUnwrap(storedSet)
        let user = try await harness.forgejoClient().currentUser(accessToken: stored.accessToken)
        XCTAssertEqual(user.login, "alice")
    }

    /// Forgejo without rotation may omit the refresh token; the one just used stays valid and
    /// must not be replaced by nothing.
    func testAnswerWithoutRefreshTokenKeepsTheOldOne() async throws {
        await harness.server.state.setInvalidateRefreshTokens(false)
        let login = try await harness.login()
        let manager = harness.makeManager()
        await harness.server.state.injectFault(.omitRefreshToken, target: .token)
        await harness.advanceClocks(seconds: 60)
        let token = try await manager.refresh(userID: userID)
        XCTAssertNotEqual(token.token, login.accessToken)
        let stored = try await harness.storedSet()
        XCTAssertEqual(stored?.refreshToken, login.refreshToken)
        await harness.advanceClocks(seconds: 60)
        let next = try await manager.refresh(userID: userID)
        XCTAssertEqual(next.generation, 3)
    }
}
