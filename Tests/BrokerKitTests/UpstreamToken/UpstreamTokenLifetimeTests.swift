import BrokerKit
import FakeForgejo
import Foundation
import Logging
import XCTest

/// Every threshold follows the token's real lifetime (short Forgejo lifetimes must not make
/// each new child refresh), refreshes are rate-limited per user, and a graceful shutdown
/// starts no refresh but lets a running one be stored.
final class UpstreamTokenLifetimeTests: XCTestCase {
    var harness: UpstreamTokenHarness!
    let userID = UpstreamTokenHarness.userID

    override func tearDown() async throws {
        try await harness?.shutdown()
    }

    private func start(lifetime: Int) async throws -> UpstreamTokenManager {
        harness = try await UpstreamTokenHarness(accessTokenLifetime: lifetime)
        try await harness.login()
        return harness.makeManager()
    }

    func testThresholdsAreFractionsOfTheLifetimeCappedByTodaysConstants() {
        let policy = UpstreamRefreshPolicy()
        let hour = UpstreamTokenThresholds(lifetime: 3600, policy: policy)
        XCTAssertEqual(hour.refreshAfter, 2880)
        XCTAssertEqual(hour.minimumRemainingForNewChild, 120, "today's constant for the stock one-hour token")
        XCTAssertEqual(hour.retirementMargin, 60)
        XCTAssertEqual(hour.minimumRefreshSpacing, 5)
        for lifetime in [6.0, 60, 120, 600] {
            let thresholds = UpstreamTokenThresholds(lifetime: lifetime, policy: policy)
            XCTAssertEqual(thresholds.refreshAfter, lifetime * 0.8, accuracy: 1e-9)
            XCTAssertLessThan(thresholds.minimumRemainingForNewChild, lifetime - thresholds.refreshAfter + 1e-9,
                              "a token still satisfies new children at its refresh point: \(thresholds)")
            XCTAssertLessThanOrEqual(thresholds.retirementMargin, thresholds.minimumRemainingForNewChild)
            XCTAssertLessThan(thresholds.minimumRefreshSpacing, thresholds.refreshAfter)
        }
        XCTAssertEqual(UpstreamTokenThresholds(lifetime: 120, policy: policy).minimumRemainingForNewChild, 18)
        XCTAssertEqual(UpstreamTokenThresholds(lifetime: 6, policy: policy).minimumRefreshSpacing, 1.5)
        XCTAssertEqual(UpstreamTokenThresholds(lifetime: 0, policy: policy).minimumRemainingForNewChild, 0)
    }

    /// Forgejo at 120 s: the assembly's 120 s minimum for a new child used to refresh on every
    /// session start. Now a fresh token serves new children until 15 % of its lifetime is left.
    func testAOneHundredTwentySecondTokenServesNewChildrenWithoutRefreshing() async throws {
        let manager = try await start(lifetime: 120)
        for _ in 0..<20 {
            _ = try await manager.validAccessToken(userID: userID, minimumRemaining: .seconds(120))
        }
        var refreshes = await harness.refreshCount()
        XCTAssertEqual(refreshes, 0, "fresh tokens need no refresh")
        await harness.advanceClocks(seconds: 100)
        _ = try await manager.validAccessToken(userID: userID, minimumRemaining: .seconds(120))
        refreshes = await harness.refreshCount()
        XCTAssertEqual(refreshes, 0, "20 s left is more than the 18 s a new child needs")
        await harness.advanceClocks(seconds: 5)
        let token = try await manager.validAccessToken(userID: userID, minimumRemaining: .seconds(120))
        refreshes = await harness.refreshCount()
        XCTAssertEqual(refreshes, 1)
        XCTAssertEqual(token.generation, 2)
        XCTAssertEqual(token.thresholds?.lifetime, 120)
    }

    func testASixSecondTokenIsScheduledAtEightyPercentOfItsLifetime() async throws {
        let manager = try await start(lifetime: 6)
        let issued = harness.clock.now()
        await manager.track(userID: userID)
        harness.startScheduler(manager)
        await upstreamEventually("planned at 4.8 s, before the expiry") {
            await manager.nextScheduledRefresh(userID: userID) == issued.addingTimeInterval(4.8)
        }
    }

    func testRefreshesOfOneUserAreRateLimited() async throws {
        let manager = try await start(lifetime: 3600)
        await harness.advanceClocks(seconds: 60)
        let first = try await manager.refresh(userID: userID)
        for _ in 0..<10 {
            let again = try await manager.refresh(userID: userID, replacing: first.generation)
            XCTAssertEqual(again.generation, first.generation, "within the spacing the stored token answers")
        }
        var refreshes = await harness.refreshCount()
        XCTAssertEqual(refreshes, 1, "one Forgejo refresh per spacing, however many ask")
        await harness.advanceClocks(seconds: 6)
        let later = try await manager.refresh(userID: userID, replacing: first.generation)
        XCTAssertEqual(later.generation, first.generation + 1)
        refreshes = await harness.refreshCount()
        XCTAssertEqual(refreshes, 2)
    }

    func testNoRefreshStartsOnceShutdownBegan() async throws {
        let manager = try await start(lifetime: 60)
        await harness.advanceClocks(seconds: 55)
        await manager.beginShutdown()
        let token = try await manager.validAccessToken(userID: userID, minimumRemaining: .seconds(120))
        XCTAssertEqual(token.generation, 1, "the stored token, still valid, is served")
        await harness.advanceClocks(seconds: 10)
        await assertUpstreamFailure(.unavailable(reason: "shutting_down")) { () async throws(UpstreamTokenFailure) in
            try await manager.validAccessToken(userID: userID, minimumRemaining: .seconds(120))
        }
        let refreshes = await harness.refreshCount()
        XCTAssertEqual(refreshes, 0)
    }

    func testShutdownWaitsForARunningRefreshToBeStored() async throws {
        let manager = try await start(lifetime: 60)
        await harness.advanceClocks(seconds: 55)
        await harness.server.state.injectFault(.hang(milliseconds: 400), target: .token)
        let userID = self.userID
        let refreshing = Task { try await manager.refresh(userID: userID) }
        try await Task.sleep(for: .milliseconds(100))
        await manager.finishRefreshes()
        let stored = try await harness.store.upstreamTokens(userID: userID)
        XCTAssertEqual(stored?.version, 2, "the rotation Forgejo made is stored before shutdown goes on")
        let token = try await refreshing.value
        XCTAssertEqual(token.generation, 2)
    }

    /// A set the key cannot open: "sign in again" (401 upstream of the MCP endpoint), the set kept.
    func testAnUnreadableSetAsksForALoginWithoutForgettingIt() async throws {
        harness = try await UpstreamTokenHarness()
        try await harness.login()
        var logger = Logger(label: "t")
        logger.logLevel = .critical
        let otherKey = UpstreamTokenManager(store: harness.store, forgejo: harness.forgejoClient(), masterKey: OpaqueToken.randomBytes(32),
                                            clock: harness.clock, policy: UpstreamTokenHarness.fastPolicy, logger: logger)
        await assertUpstreamFailure(.loginRequired(reason: "upstream_tokens_unreadable")) { () async throws(UpstreamTokenFailure) in
            try await otherKey.validAccessToken(userID: userID, minimumRemaining: .seconds(120))
        }
        await assertUpstreamFailure(.loginRequired(reason: "upstream_tokens_unreadable")) { () async throws(UpstreamTokenFailure) in
            try await otherKey.refresh(userID: userID)
        }
        let kept = try await harness.store.upstreamTokens(userID: userID)
        XCTAssertNotNil(kept)
        let grants = try await harness.store.activeGrants(userID: userID)
        XCTAssertEqual(grants.count, 1, "broker grants are not revoked")
        let rotated = UpstreamTokenManager(store: harness.store, forgejo: harness.forgejoClient(), masterKey: OpaqueToken.randomBytes(32),
                                           previousMasterKeys: [harness.masterKey], clock: harness.clock,
                                           policy: UpstreamTokenHarness.fastPolicy, logger: logger)
        await harness.advanceClocks(seconds: 3500)
        let refreshed = try await rotated.refresh(userID: userID)
        XCTAssertEqual(refreshed.generation, 2, "the previous key opens it, and the refresh re-seals with the new key")
        let resealed = try await harness.store.upstreamTokens(userID: userID)
        XCTAssertThrowsError(try UpstreamTokenSet.open(try XCTUnwrap(resealed).sealed, with: harness.box, userID: userID),
                             "sealed with the new key now, not the old one")
    }
}
