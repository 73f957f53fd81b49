import BrokerKit
import FakeForgejo
import Foundation
import XCTest

/// The proactive scheduler, driven by the test clock on the broker side and the fake's clock
/// control on Forgejo's side.
final class UpstreamTokenSchedulerTests: XCTestCase {
    var harness: UpstreamTokenHarness!
    let userID = UpstreamTokenHarness.userID

    override func setUp() async throws {
        harness = try await UpstreamTokenHarness(accessTokenLifetime: 10)
    }

    override func tearDown() async throws {
        try await harness?.shutdown()
    }

    func testRefreshesAtEightyPercentAcrossFiveExpiries() async throws {
        try await harness.login()
        let issued = harness.clock.now()
        let manager = harness.makeManager()
        let log = await UpstreamTokenEventLog(manager)
        await manager.track(userID: userID)
        harness.startScheduler(manager)
        await upstreamEventually("first plan at 8 s") {
            await manager.nextScheduledRefresh(userID: userID) == issued.addingTimeInterval(8)
        }
        for round in 1...5 {
            await harness.advanceClocks(seconds: 8)
            let nextDue = issued.addingTimeInterval(TimeInterval(8 * (round + 1)))
            await upstreamEventually("refresh \(round) done and the next one planned") {
                await manager.nextScheduledRefresh(userID: userID) == nextDue
            }
            let refreshes = await harness.refreshCount()
            XCTAssertEqual(refreshes, round)
        }
        await upstreamEventually("five refreshed events") { await log.refreshedGenerations.count == 5 }
        let generations = await log.refreshedGenerations
        XCTAssertEqual(generations, [2, 3, 4, 5, 6])
        let storedSet = try await harness.storedSet()
        let stored = try XCTUnwrap(storedSet)
        let user = try await harness.forgejoClient().currentUser(accessToken: stored.accessToken)
        XCTAssertEqual(user.login, "alice")
    }

    func testTransientScheduledFailureIsRetriedWithBackoff() async throws {
        try await harness.login()
        let issued = harness.clock.now()
        let manager = harness.makeManager()
        await manager.track(userID: userID)
        harness.startScheduler(manager)
        await upstreamEventually("first plan") { await manager.nextScheduledRefresh(userID: userID) != nil }
        await harness.server.state.injectFault(.serverError, target: .token, count: 2)
        await harness.advanceClocks(seconds: 8)
        // fastPolicy: reschedule base 2 s with equal jitter, so the retry lands 1-2 s later.
        await upstreamEventually("retry planned") {
            guard let next = await manager.nextScheduledRefresh(userID: userID) else { return false }
            return next > issued.addingTimeInterval(8) && next <= issued.addingTimeInterval(10)
        }
        let failed = await harness.refreshCount()
        XCTAssertEqual(failed, 0)
        let status = await manager.check(userID: userID)
        XCTAssertEqual(status, .alive, "the stored token has not expired yet")

        await harness.advanceClocks(seconds: 2)
        await upstreamEventually("retried refresh") { await harness.refreshCount() == 1 }
        let token = try await manager.validAccessToken(userID: userID, minimumRemaining: .seconds(5))
        XCTAssertEqual(token.generation, 2)
    }

    func testRevokedGrantEndsSchedulingUntilTheNextLogin() async throws {
        try await harness.login()
        let manager = harness.makeManager()
        let log = await UpstreamTokenEventLog(manager)
        await manager.track(userID: userID)
        harness.startScheduler(manager)
        await upstreamEventually("first plan") { await manager.nextScheduledRefresh(userID: userID) != nil }
        try await harness.server.state.revokeGrant(login: "alice", clientID: harness.credentials.clientID)
        await harness.advanceClocks(seconds: 8)
        await upstreamEventually("dead event") { await log.deaths == ["upstream_grant_revoked"] }
        let parked = await manager.nextScheduledRefresh(userID: userID)
        XCTAssertEqual(parked, .distantFuture)

        try await harness.login()
        let relogin = harness.clock.now()
        await manager.track(userID: userID)
        await upstreamEventually("new login planned") {
            await manager.nextScheduledRefresh(userID: userID) == relogin.addingTimeInterval(8)
        }
    }

    func testTrackingIsReferenceCounted() async throws {
        try await harness.login()
        let manager = harness.makeManager()
        harness.startScheduler(manager)
        await manager.track(userID: userID)
        await manager.track(userID: userID)
        await upstreamEventually("planned") { await manager.nextScheduledRefresh(userID: userID) != nil }
        await manager.untrack(userID: userID)
        let stillPlanned = await manager.nextScheduledRefresh(userID: userID)
        XCTAssertNotNil(stillPlanned, "one session still tracks the user")
        await manager.untrack(userID: userID)
        let afterLast = await manager.nextScheduledRefresh(userID: userID)
        XCTAssertNil(afterLast)
    }
}
