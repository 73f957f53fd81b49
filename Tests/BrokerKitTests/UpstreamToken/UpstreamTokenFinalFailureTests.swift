import BrokerKit
import FakeForgejo
import Foundation
import XCTest

/// "Already used" and revoked grants: adopt what another process stored, otherwise forget the
/// set, revoke the broker grants and announce the death.
final class UpstreamTokenFinalFailureTests: UpstreamTokenTestCase {
    /// Another process rotates between this manager's read and its call to Forgejo: Forgejo
    /// answers "already used", the re-read finds the newer set, and it is adopted.
    func testReuseAfterAnotherProcessRefreshedAdoptsItsSet() async throws {
        try await harness.login()
        let intercepting = UpstreamTokenInterceptingStore(harness.store)
        let manager = harness.makeManager(store: intercepting)
        let otherProcess = harness.makeManager()
        let userID = self.userID
        intercepting.afterNextTokenRead { _ = try await otherProcess.refresh(userID: userID) }

        let token = try await manager.refresh(userID: userID)
        XCTAssertEqual(token.generation, 2)
        let stored = try await harness.storedSet()
        XCTAssertEqual(stored?.accessToken, token.token)
        let counters = await harness.server.state.counters()
        XCTAssertEqual(counters.tokenRequests(grantType: "refresh_token", outcome: "unauthorized_client"), 1)
        XCTAssertEqual(counters.refreshesByUser["alice"], 1)
        let status = await manager.check(userID: userID)
        XCTAssertEqual(status, .alive)
    }

    /// Crash safety: Forgejo rotated, but the broker died before its compare-and-swap, so the
    /// store still holds the old set. The next refresh sees "already used", finds nothing newer
    /// and ends the user's authorization cleanly.
    func testRotationWhoseAnswerWasLostIsFinal() async throws {
        try await harness.login()
        let manager = harness.makeManager()
        let log = await UpstreamTokenEventLog(manager)
        try await harness.refreshBehindTheManagersBack()

        await assertUpstreamFailure(.loginRequired(reason: "upstream_refresh_token_reused")) {
            () async throws(UpstreamTokenFailure) in try await manager.refresh(userID: userID)
        }
        try await assertForgotten(manager, log: log, reason: "upstream_refresh_token_reused")
    }

    /// The same loss through the network: the client times out while Forgejo still processes
    /// (and rotates) the request.
    func testTimeoutAfterForgejoRotatedIsFinalOnTheNextRefresh() async throws {
        let login = try await harness.login()
        let manager = harness.makeManager(
            forgejo: harness.forgejoClient(timeout: .milliseconds(200)),
            policy: UpstreamRefreshPolicy(attempts: 1, reuseRecheckDelays: [.milliseconds(50)]))
        await harness.server.state.injectFault(.hang(milliseconds: 600), target: .token)
        let served = try await manager.refresh(userID: userID)
        XCTAssertEqual(served.token, login.accessToken, "the stored token is served while valid")
        await upstreamEventually("Forgejo finished the abandoned refresh") { await harness.refreshCount() == 1 }

        await assertUpstreamFailure(.loginRequired(reason: "upstream_refresh_token_reused")) {
            () async throws(UpstreamTokenFailure) in try await manager.refresh(userID: userID)
        }
        let record = try await harness.store.upstreamTokens(userID: userID)
        XCTAssertNil(record)
    }

    func testRevokedGrantIsFinal() async throws {
        try await harness.login()
        let manager = harness.makeManager()
        let log = await UpstreamTokenEventLog(manager)
        try await harness.server.state.revokeGrant(login: "alice", clientID: harness.credentials.clientID)

        await assertUpstreamFailure(.loginRequired(reason: "upstream_grant_revoked")) {
            () async throws(UpstreamTokenFailure) in try await manager.refresh(userID: userID)
        }
        try await assertForgotten(manager, log: log, reason: "upstream_grant_revoked")
        await assertUpstreamFailure(.loginRequired(reason: "upstream_tokens_missing")) {
            () async throws(UpstreamTokenFailure) in
            try await manager.validAccessToken(userID: userID, minimumRemaining: .zero)
        }
    }

    /// A login lands between the refresh's final verdict (its re-read still saw the revoked
    /// set) and the cleanup: the new set survives, no broker grant is revoked, nobody is told
    /// the user is dead, and the refresh answers with the new set.
    func testFinalVerdictOvertakenByALoginKeepsTheNewSet() async throws {
        try await harness.login()
        let intercepting = UpstreamTokenInterceptingStore(harness.store)
        let manager = harness.makeManager(store: intercepting)
        let log = await UpstreamTokenEventLog(manager)
        try await harness.server.state.revokeGrant(login: "alice", clientID: harness.credentials.clientID)
        // What the callback of a new login would store.
        let expiresAt = harness.clock.now().addingTimeInterval(3600)
        let sealed = UpstreamTokenSet(accessToken: "after-login", refreshToken: "after-login-refresh", accessExpiresAt: expiresAt)
            .seal(with: harness.box, userID: userID)
        let (store, userID, now) = (harness.store, userID, harness.clock.now())
        // Read 1 starts the refresh, read 2 is the re-read behind the verdict: log in after it.
        intercepting.afterNextTokenRead {
            intercepting.afterNextTokenRead {
                _ = try await store.replaceUpstreamTokens(userID: userID, sealed: sealed, accessExpiresAt: expiresAt, now: now)
            }
        }

        let token = try await manager.refresh(userID: userID)
        XCTAssertEqual(token.token, "after-login")
        let stored = try await harness.storedSet()
        XCTAssertEqual(stored?.accessToken, "after-login")
        let grants = try await harness.store.activeGrants(userID: userID)
        XCTAssertFalse(grants.isEmpty, "the new login's broker grant must survive")
        let deaths = await log.deaths
        XCTAssertEqual(deaths, [])
        let status = await manager.check(userID: userID)
        XCTAssertEqual(status, .alive)
    }

    private func assertForgotten(
        _ manager: UpstreamTokenManager, log: UpstreamTokenEventLog, reason: String,
        file: StaticString = #filePath, line: UInt = #line
    ) async throws {
        let record = try await harness.store.upstreamTokens(userID: userID)
        XCTAssertNil(record, "token set deleted", file: file, line: line)
        let grants = try await harness.store.activeGrants(userID: userID)
        XCTAssertEqual(grants, [], "broker grants revoked", file: file, line: line)
        await upstreamEventually("dead event", file: file, line: line) { await log.deaths == [reason] }
        let status = await manager.check(userID: userID)
        XCTAssertEqual(status, .dead, file: file, line: line)
    }
}
