import BrokerKit
import FakeForgejo
import Foundation
import XCTest

/// Forgejo down, erroring, talking HTML or misconfigured: nobody is logged out, the stored token
/// is served while it is valid, and the next refresh after the fault clears succeeds.
final class UpstreamTokenTransientTests: UpstreamTokenTestCase {
    func testFaultsServeTheStoredTokenWhileValidThenRecover() async throws {
        let login = try await harness.login()
        let manager = harness.makeManager()
        let log = await UpstreamTokenEventLog(manager)
        harness.clock.advance(seconds: 3500)
        for fault in [FakeFault.serverError, .htmlGarbage, .closeConnection] {
            // One per attempt of the policy, so the whole refresh fails.
            await harness.server.state.injectFault(fault, target: .token, count: 2)
            let token = try await manager.validAccessToken(userID: userID, minimumRemaining: .seconds(300))
            XCTAssertEqual(token.token, login.accessToken, "\(fault)")
            XCTAssertEqual(token.generation, 1, "\(fault)")
            let status = await manager.check(userID: userID)
            XCTAssertEqual(status, .alive, "the stored token is still valid: \(fault)")
        }
        try await assertUntouched()
        let recovered = try await manager.validAccessToken(userID: userID, minimumRemaining: .seconds(300))
        XCTAssertEqual(recovered.generation, 2)
        let refreshes = await harness.refreshCount()
        XCTAssertEqual(refreshes, 1)
        let deaths = await log.deaths
        XCTAssertEqual(deaths, [])
    }

    func testRetryWithinOneRefreshRidesOutASingleFault() async throws {
        try await harness.login()
        let manager = harness.makeManager()
        await harness.server.state.injectFault(.serverError, target: .token, count: 1)
        let token = try await manager.refresh(userID: userID)
        XCTAssertEqual(token.generation, 2)
    }

    func testForgejoDownThenBack() async throws {
        let login = try await harness.login()
        let down = harness.forgejoClient(baseURL: "http://127.0.0.1:1", timeout: .milliseconds(300))
        let manager = harness.makeManager(forgejo: down)
        harness.clock.advance(seconds: 3500)
        let token = try await manager.validAccessToken(userID: userID, minimumRemaining: .seconds(300))
        XCTAssertEqual(token.token, login.accessToken)
        harness.clock.advance(seconds: 200)
        await assertUpstreamFailure(.unavailable(reason: "upstream_unreachable")) {
            () async throws(UpstreamTokenFailure) in
            try await manager.validAccessToken(userID: userID, minimumRemaining: .seconds(300))
        }
        let status = await manager.check(userID: userID)
        XCTAssertEqual(status, .transient, "expired and the last refresh failed transiently")
        try await assertUntouched()

        let back = harness.makeManager()
        let recovered = try await back.validAccessToken(userID: userID, minimumRemaining: .seconds(300))
        XCTAssertEqual(recovered.generation, 2)
    }

    func testExpiredTokenDuringOutageIsUnavailableUntilForgejoRecovers() async throws {
        try await harness.login()
        let manager = harness.makeManager()
        harness.clock.advance(seconds: 3700)
        await harness.server.state.injectFault(.serverError, target: .token, count: 2)
        await assertUpstreamFailure(.unavailable(reason: "upstream_server_error")) {
            () async throws(UpstreamTokenFailure) in
            try await manager.validAccessToken(userID: userID, minimumRemaining: .seconds(300))
        }
        let during = await manager.check(userID: userID)
        XCTAssertEqual(during, .transient)
        try await assertUntouched()

        let token = try await manager.validAccessToken(userID: userID, minimumRemaining: .seconds(300))
        XCTAssertEqual(token.generation, 2)
        let after = await manager.check(userID: userID)
        XCTAssertEqual(after, .alive)
    }

    /// A rotated client secret is the operator's problem, not the users': nobody is logged out.
    func testMisconfiguredClientSecretNeverLogsUsersOut() async throws {
        let login = try await harness.login()
        let manager = harness.makeManager(forgejo: harness.forgejoClient(secret: "rotated-by-the-operator"))
        let log = await UpstreamTokenEventLog(manager)
        harness.clock.advance(seconds: 3500)
        let served = try await manager.validAccessToken(userID: userID, minimumRemaining: .seconds(300))
        XCTAssertEqual(served.token, login.accessToken)
        harness.clock.advance(seconds: 200)
        await assertUpstreamFailure(.unavailable(reason: "upstream_invalid_client_secret")) {
            () async throws(UpstreamTokenFailure) in try await manager.refresh(userID: userID)
        }
        let status = await manager.check(userID: userID)
        XCTAssertEqual(status, .transient)
        try await assertUntouched()
        let deaths = await log.deaths
        XCTAssertEqual(deaths, [])

        let fixed = harness.makeManager()
        let token = try await fixed.validAccessToken(userID: userID, minimumRemaining: .seconds(300))
        XCTAssertEqual(token.generation, 2)
    }

    /// The login's set is still stored and the broker grant still active.
    private func assertUntouched(file: StaticString = #filePath, line: UInt = #line) async throws {
        let record = try await harness.store.upstreamTokens(userID: userID)
        XCTAssertEqual(record?.version, 1, file: file, line: line)
        let grants = try await harness.store.activeGrants(userID: userID)
        XCTAssertEqual(grants.count, 1, file: file, line: line)
    }
}
