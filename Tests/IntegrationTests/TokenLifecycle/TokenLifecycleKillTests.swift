import AsyncHTTPClient
import BrokerKit
import FakeForgejo
import Foundation
import XCTest

/// `fjmcp-broker serve` SIGKILLed in the middle of a Forgejo refresh, then restarted on the same
/// data directory: the stored token set is never half-written. Killed before Forgejo answered,
/// the old set is intact and still works; killed after Forgejo rotated the refresh token but
/// before the broker stored the answer, the old set is clearly dead (Forgejo rejects it, the
/// broker forgets it and asks the user to sign in) — never a mixture.
final class TokenLifecycleKillTests: ProxiedServeTestCase {
    override func setUp() async throws {
        try await super.setUp()
        // Short: the scheduler refreshes a tracked user 4 s after the login (80 % of the lifetime).
        await forgejo.state.setAccessTokenLifetime(seconds: 5)
    }

    /// Logs alice in, then starts a session (tracking her) whose scheduled refresh the proxy holds
    /// in `mode`, and kills the broker while it waits. Returns the bearer token and the stored set before the refresh.
    private func killDuringRefresh(_ mode: StallingForgejoProxy.Mode) async throws -> (token: String, before: UpstreamTokenRecord) {
        let broker = try await startBroker()
        let token = try await MCPLogin.accessToken(baseURL: baseURL, resource: baseURL + "/mcp", httpClient: httpClient)
        let stored = try await storedTokens()
        let before = try XCTUnwrap(stored, "the login stored no token set")
        proxy.setMode(mode)
        let refreshesBefore = await forgejo.state.counters().refreshesByUser["alice"] ?? 0
        var client = MCPTestClient(baseURL: baseURL, accessToken: token, httpClient: httpClient)
        let opening = Task { try? await client.initialize() }
        let held = await eventually(timeout: .seconds(20)) { self.proxy.heldRequests == 1 }
        XCTAssertTrue(held, "the scheduled refresh did not go through the proxy")
        let refreshesAtKill = await forgejo.state.counters().refreshesByUser["alice"] ?? 0
        XCTAssertEqual(refreshesAtKill - refreshesBefore, mode == .stallAfterForwarding ? 1 : 0, "Forgejo's view at the kill")
        broker.signal(SIGKILL)
        let status = await broker.waitForExit(timeout: .seconds(10))
        XCTAssertNotNil(status, "the broker survived SIGKILL")
        opening.cancel()
        proxy.setMode(.pass)
        // Let the old access token expire, so the restarted broker must use the refresh token.
        if let expiry = before.accessExpiresAt, expiry > Date() {
            try await Task.sleep(for: .seconds(expiry.timeIntervalSinceNow + 0.5))
        }
        return (token, before)
    }

    func testKilledBeforeForgejoAnsweredKeepsTheOldSetUsable() async throws {
        let (token, before) = try await killDuringRefresh(.stallBeforeForwarding)
        let after = try await storedTokens()
        XCTAssertEqual(after, before, "nothing may be written for a refresh Forgejo never answered")

        let broker = try await startBroker()
        var client = MCPTestClient(baseURL: baseURL, accessToken: token, httpClient: httpClient)
        let initialized = try await client.initialize()
        XCTAssertEqual(initialized.status, 200, initialized.body)
        let whoami = try await client.tool(id: 1, "whoami")
        XCTAssertEqual(whoami.structured?["login"] as? String, "alice", whoami.body)
        await stop(broker)
    }

    func testKilledAfterForgejoRotatedLeavesAClearlyDeadSetAndANewLoginWorks() async throws {
        let (token, before) = try await killDuringRefresh(.stallAfterForwarding)
        let after = try await storedTokens()
        XCTAssertEqual(after, before, "the broker died before it could store anything: the old set, whole")

        let broker = try await startBroker()
        var client = MCPTestClient(baseURL: baseURL, accessToken: token, httpClient: httpClient)
        // The stored refresh token was rotated away at Forgejo: final, sign in again.
        let initialized = try await client.initialize()
        XCTAssertEqual(initialized.status, 401, initialized.body)
        let gone = await eventually { (try? await self.storedTokens()) == .some(nil) }
        XCTAssertTrue(gone, "the dead set must be forgotten, not kept")
        XCTAssertTrue(broker.stderr.contains("upstream_grant_dead"), broker.stderr)

        let fresh = try await MCPLogin.accessToken(baseURL: baseURL, resource: baseURL + "/mcp", httpClient: httpClient)
        var again = MCPTestClient(baseURL: baseURL, accessToken: fresh, httpClient: httpClient)
        let reopened = try await again.initialize()
        XCTAssertEqual(reopened.status, 200, reopened.body)
        await stop(broker)
    }

    private func stop(_ broker: ProductProcess) async {
        broker.signal(SIGTERM)
        _ = await broker.waitForExit(timeout: .seconds(10))
    }
}
