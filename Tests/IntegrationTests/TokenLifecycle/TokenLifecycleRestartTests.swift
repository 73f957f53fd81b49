import AsyncHTTPClient
import BrokerKit
import FakeForgejo
import Foundation
import XCTest

/// `fjmcp-broker serve` restarted on the same data directory keeps every login: after a SIGTERM
/// that arrives while Forgejo is still answering a refresh (the rotation is stored before the
/// store closes), and after a secret key rotation with the previous key configured.
final class TokenLifecycleRestartTests: ProxiedServeTestCase {
    private func stop(_ broker: ProductProcess) async -> Int32? {
        broker.signal(SIGTERM)
        return await broker.waitForExit(timeout: .seconds(15))
    }

    private func assertWorks(_ token: String, _ what: String) async throws {
        var client = MCPTestClient(baseURL: baseURL, accessToken: token, httpClient: httpClient)
        let initialized = try await client.initialize()
        XCTAssertEqual(initialized.status, 200, "\(what): \(initialized.body)")
        let whoami = try await client.tool(id: 1, "whoami")
        XCTAssertEqual(whoami.structured?["login"] as? String, "alice", "\(what): \(whoami.body)")
    }

    /// Forgejo answers the refresh 1.5 s late; SIGTERM arrives while it is pending. The broker
    /// waits for the answer and stores it, so the restarted broker holds the live refresh token.
    func testSIGTERMDuringARefreshStoresItsRotationAndTheLoginSurvives() async throws {
        await forgejo.state.setAccessTokenLifetime(seconds: 5)
        let broker = try await startBroker()
        let token = try await MCPLogin.accessToken(baseURL: baseURL, resource: baseURL + "/mcp", httpClient: httpClient)
        let stored = try await storedTokens()
        let before = try XCTUnwrap(stored)
        proxy.setMode(.delayAfterForwarding(.milliseconds(1500)))
        var client = MCPTestClient(baseURL: baseURL, accessToken: token, httpClient: httpClient)
        let initialized = try await client.initialize()
        XCTAssertEqual(initialized.status, 200, initialized.body)
        let held = await eventually(timeout: .seconds(20)) { self.proxy.heldRequests == 1 }
        XCTAssertTrue(held, "the scheduled refresh did not reach the proxy")
        let status = await stop(broker)
        XCTAssertEqual(status, 0, broker.stderr)
        let storedAfter = try await storedTokens()
        let after = try XCTUnwrap(storedAfter, "the login was lost")
        XCTAssertGreaterThan(after.version, before.version, "the rotation Forgejo made must be stored before exit")
        XCTAssertEqual(proxy.heldRequests, 0)

        proxy.setMode(.pass)
        if let expiry = after.accessExpiresAt, expiry > Date() { try await Task.sleep(for: .seconds(expiry.timeIntervalSinceNow + 0.5)) }
        let restarted = try await startBroker()
        try await assertWorks(token, "after the restart, on the stored rotation's refresh token")
        _ = await stop(restarted)
    }

    /// Key rotation: the new key with the old one as FJMCP_SECRET_KEY_PREVIOUS_FILE keeps the
    /// broker tokens, the sealed Forgejo token and the refresh grant working; without the
    /// previous key the user is asked to sign in again (401), never answered 500.
    func testRotatingTheKeyWithThePreviousKeyConfiguredKeepsEverySession() async throws {
        let broker = try await startBroker()
        let tokens = try await MCPLogin.login(baseURL: baseURL, resource: baseURL + "/mcp", httpClient: httpClient)
        try await assertWorks(tokens.accessToken, "before the rotation")
        _ = await stop(broker)

        // The operator's procedure (docs/operations.md): keep the old key, generate a new one.
        let oldKey = directory + "/secret.key.previous"
        try FileManager.default.moveItem(atPath: directory + "/secret.key", toPath: oldKey)
        let withoutPrevious = try await startBroker()
        var orphan = MCPTestClient(baseURL: baseURL, accessToken: tokens.accessToken, httpClient: httpClient)
        let refused = try await orphan.initialize()
        XCTAssertEqual(refused.status, 401, "a set the key cannot open asks for a login: \(refused.body)")
        XCTAssertTrue(withoutPrevious.stderr.contains("upstream_tokens_unreadable") || refused.body.contains("upstream_tokens_unreadable"),
                      withoutPrevious.stderr)
        _ = await stop(withoutPrevious)

        let rotated = try await startBroker(["FJMCP_SECRET_KEY_PREVIOUS_FILE": oldKey])
        try await assertWorks(tokens.accessToken, "after the rotation")
        let refreshed = try await MCPLogin.send(baseURL + "/oauth/token", httpClient: httpClient, form: [
            ("grant_type", "refresh_token"), ("refresh_token", try XCTUnwrap(tokens.refreshToken)), ("client_id", tokens.clientID),
        ])
        XCTAssertEqual(refreshed.status, 200, "the refresh grant works after the rotation: \(refreshed.body)")
        let newAccess = try XCTUnwrap(refreshed.json["access_token"] as? String)
        try await assertWorks(newAccess, "with the refreshed token")
        _ = await stop(rotated)
    }
}
