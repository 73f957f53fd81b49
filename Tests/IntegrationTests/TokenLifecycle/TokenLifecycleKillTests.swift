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
final class TokenLifecycleKillTests: XCTestCase {
    private var forgejo: FakeForgejoServer!
    private var proxy: StallingForgejoProxy!
    private var httpClient: HTTPClient!
    private var directory = ""
    private var port = 0
    private var baseURL: String { "http://127.0.0.1:\(port)" }
    private let alice: Int64 = 101

    override func setUp() async throws {
        forgejo = try await FakeForgejoServer.start(options: FakeForgejoOptions(autoApproveUser: "alice", users: OAuthTestBroker.users))
        // Short: the scheduler refreshes a tracked user 4 s after the login (80 % of the lifetime).
        await forgejo.state.setAccessTokenLifetime(seconds: 5)
        // Forgejo with INVALIDATE_REFRESH_TOKENS: a rotated-away refresh token is dead.
        await forgejo.state.setInvalidateRefreshTokens(true)
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        proxy = try await StallingForgejoProxy.start(upstream: forgejo.baseURL, client: httpClient)
        directory = NSTemporaryDirectory() + "fjmcp-kill-refresh-" + UUID().uuidString
        port = try FreePort.pick()
        try await forgejo.state.registerApp(FakeAppSeed(name: "broker", redirectURIs: [baseURL + "/oauth/callback"],
                                                        clientID: OAuthTestBroker.forgejoClientID,
                                                        clientSecret: OAuthTestBroker.forgejoClientSecret))
    }

    override func tearDown() async throws {
        await proxy.stop()
        try? await httpClient.shutdown()
        await forgejo.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func startBroker() async throws -> ProductProcess {
        let broker = try ProductProcess("fjmcp-broker", arguments: ["serve"], environment: [
            "FJMCP_PUBLIC_URL": baseURL, "FJMCP_LISTEN": "127.0.0.1:\(port)", "FJMCP_DATA_DIR": directory,
            "FORGEJO_URL": proxy.baseURL, "FORGEJO_CLIENT_ID": OAuthTestBroker.forgejoClientID,
            "FORGEJO_CLIENT_SECRET": OAuthTestBroker.forgejoClientSecret, "FJMCP_CHILD_COMMAND": MCPDemo.path,
            "FJMCP_CHILD_STOP_GRACE": "300ms",
        ])
        _ = try await broker.waitFor("the listening line") { ServeBinaryTests.listeningPort(in: $0.stderr) }
        return broker
    }

    /// The stored set as the restarted broker will read it (the broker is not running).
    private func storedTokens() async throws -> UpstreamTokenRecord? {
        let store = try SQLiteStore(path: directory + "/broker.sqlite")
        defer { try? store.close() }
        return try await store.upstreamTokens(userID: alice)
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
