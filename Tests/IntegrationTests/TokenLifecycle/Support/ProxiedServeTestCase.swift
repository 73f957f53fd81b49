import AsyncHTTPClient
import BrokerKit
import FakeForgejo
import Foundation
import XCTest

/// `fjmcp-broker serve` as a separate process whose Forgejo traffic goes through a
/// `StallingForgejoProxy`, on a data directory that survives restarts: the frame of the tests that
/// stop or kill the broker around a Forgejo refresh.
class ProxiedServeTestCase: XCTestCase {
    var forgejo: FakeForgejoServer!
    var proxy: StallingForgejoProxy!
    var httpClient: HTTPClient!
    var directory = ""
    var port = 0
    var baseURL: String { "http://127.0.0.1:\(port)" }
    let alice: Int64 = 101

    override func setUp() async throws {
        forgejo = try await FakeForgejoServer.start(options: FakeForgejoOptions(autoApproveUser: "alice", users: OAuthTestBroker.users))
        // Forgejo with INVALIDATE_REFRESH_TOKENS: a rotated-away refresh token is dead.
        await forgejo.state.setInvalidateRefreshTokens(true)
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        proxy = try await StallingForgejoProxy.start(upstream: forgejo.baseURL, client: httpClient)
        directory = NSTemporaryDirectory() + "fjmcp-proxied-serve-" + UUID().uuidString
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

    func startBroker(_ extra: [String: String] = [:]) async throws -> ProductProcess {
        var environment = [
            "FJMCP_PUBLIC_URL": baseURL, "FJMCP_LISTEN": "127.0.0.1:\(port)", "FJMCP_DATA_DIR": directory,
            "FORGEJO_URL": proxy.baseURL, "FORGEJO_CLIENT_ID": OAuthTestBroker.forgejoClientID,
            "FORGEJO_CLIENT_SECRET": OAuthTestBroker.forgejoClientSecret, "FJMCP_CHILD_COMMAND": MCPDemo.path,
            "FJMCP_CHILD_STOP_GRACE": "300ms",
        ]
        environment.merge(extra) { _, new in new }
        let broker = try ProductProcess("fjmcp-broker", arguments: ["serve"], environment: environment)
        _ = try await broker.waitFor("the listening line") { ServeBinaryTests.listeningPort(in: $0.stderr) }
        return broker
    }

    /// The stored set as the restarted broker will read it (the broker is not running).
    func storedTokens() async throws -> UpstreamTokenRecord? {
        let store = try SQLiteStore(path: directory + "/broker.sqlite")
        defer { try? store.close() }
        return try await store.upstreamTokens(userID: alice)
    }
}
