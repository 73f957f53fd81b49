import BrokerKit
import FakeForgejo
import Foundation
import Logging
import XCTest

/// Upstream truth's check of a stored token against the fake Forgejo (`UpstreamTokenManager.verify`)
/// and the probe actor that runs it: a rejected token is replaced, a dead grant ends the user,
/// Forgejo failing changes nothing, and doubts are coalesced into few probes.
final class UpstreamTruthVerifyTests: UpstreamTokenTestCase {
    private static let userPath = "/api/v1/user"

    private func probeCalls() async -> Int {
        await harness.server.state.counters().apiCalls[Self.userPath] ?? 0
    }

    func testAnAcceptedTokenIsLeftAlone() async throws {
        try await harness.login()
        let manager = harness.makeManager()
        let verdict = await manager.verify(userID: userID)
        XCTAssertEqual(verdict, .valid)
        let refreshes = await harness.refreshCount()
        XCTAssertEqual(refreshes, 0)
    }

    func testATokenForgejoExpiredEarlyIsRefreshedAndAnnounced() async throws {
        try await harness.login()
        let manager = harness.makeManager()
        let log = await UpstreamTokenEventLog(manager)
        // A second later, so the refreshed token is not the same signed claims as the login's.
        await harness.advanceClocks(seconds: 1)
        try await harness.server.state.expireTokens(login: "alice")

        let verdict = await manager.verify(userID: userID)
        XCTAssertEqual(verdict, .replaced)
        let refreshes = await harness.refreshCount()
        XCTAssertEqual(refreshes, 1)
        await upstreamEventually("refreshed event") {
            await log.events.contains { if case .refreshed(_, let token) = $0 { token.generation == 2 } else { false } }
        }
        let again = await manager.verify(userID: userID)
        XCTAssertEqual(again, .valid, "the new token works")
    }

    func testARevokedGrantEndsTheUsersAccess() async throws {
        try await harness.login()
        let manager = harness.makeManager()
        let log = await UpstreamTokenEventLog(manager)
        try await harness.server.state.revokeGrant(login: "alice", clientID: harness.credentials.clientID)

        let verdict = await manager.verify(userID: userID)
        XCTAssertEqual(verdict, .dead(reason: "upstream_grant_revoked"))
        let record = try await harness.store.upstreamTokens(userID: userID)
        XCTAssertNil(record)
        let grants = try await harness.store.activeGrants(userID: userID)
        XCTAssertEqual(grants, [])
        await upstreamEventually("dead event") { await log.deaths == ["upstream_grant_revoked"] }
        let status = await manager.check(userID: userID)
        XCTAssertEqual(status, .dead)
    }

    /// Forgejo down is not a revocation: no refresh, nothing forgotten, nobody logged out.
    func testForgejoFailingChangesNothing() async throws {
        try await harness.login()
        let manager = harness.makeManager()
        await harness.server.state.injectFault(.serverError, target: .api)
        let failing = await manager.verify(userID: userID)
        XCTAssertEqual(failing, .unknown(reason: "upstream_server_error"))
        await harness.server.state.injectFault(.closeConnection, target: .api)
        let cut = await manager.verify(userID: userID)
        XCTAssertEqual(cut, .unknown(reason: "upstream_unreachable"))

        let refreshes = await harness.refreshCount()
        XCTAssertEqual(refreshes, 0)
        let record = try await harness.store.upstreamTokens(userID: userID)
        XCTAssertEqual(record?.version, 1)
        let grants = try await harness.store.activeGrants(userID: userID)
        XCTAssertEqual(grants.count, 1)
    }

    /// A refresh rejected for now after Forgejo refused the token: no verdict, the set is kept.
    func testARejectedTokenWhoseRefreshFailsForNowChangesNothing() async throws {
        try await harness.login()
        let manager = harness.makeManager()
        await harness.advanceClocks(seconds: 1)
        try await harness.server.state.expireTokens(login: "alice")
        await harness.server.state.injectFault(.serverError, target: .token, count: 5)
        let verdict = await manager.verify(userID: userID)
        XCTAssertEqual(verdict, .unknown(reason: "upstream_server_error"))
        let grants = try await harness.store.activeGrants(userID: userID)
        XCTAssertEqual(grants.count, 1)
    }

    func testAUserWithoutATokenSetIsNotChecked() async throws {
        let manager = harness.makeManager()
        let verdict = await manager.verify(userID: userID)
        XCTAssertEqual(verdict, .skipped(reason: "no_token_set"))
        let calls = await probeCalls()
        XCTAssertEqual(calls, 0)
    }

    private func makeProbe(_ manager: UpstreamTokenManager, spacing: Duration = .milliseconds(300)) -> UpstreamTruthProbe {
        var logger = Logger(label: "upstream-truth-test")
        logger.logLevel = .critical
        return UpstreamTruthProbe(manager: manager, settings: .init(doubtSpacing: spacing, refreshGrantSpacing: .seconds(60)),
                                  logger: logger)
    }

    /// A burst of failed calls costs one probe now and one at the end of the spacing, never one each.
    func testABurstOfFailedCallsIsCoalesced() async throws {
        try await harness.login()
        let probe = makeProbe(harness.makeManager())
        for _ in 1...20 { probe.callFailed(userID: userID) }
        await upstreamEventually("the first probe") { await probeCalls() == 1 }
        await upstreamEventually("the coalesced probe") { await probeCalls() == 2 }
        try await Task.sleep(for: .milliseconds(700))
        let calls = await probeCalls()
        XCTAssertEqual(calls, 2)
    }

    func testBrokerRefreshesProbeOncePerSpacing() async throws {
        try await harness.login()
        let probe = makeProbe(harness.makeManager())
        probe.refreshRedeemed(userID: userID)
        await upstreamEventually("the probe") { await probeCalls() == 1 }
        probe.refreshRedeemed(userID: userID)
        try await Task.sleep(for: .milliseconds(500))
        let calls = await probeCalls()
        XCTAssertEqual(calls, 1)
        let status = await probe.check(userID: userID)
        XCTAssertEqual(status, .alive, "the grant state is the manager's")
    }
}
