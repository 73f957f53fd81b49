import AsyncHTTPClient
import BrokerKit
import FakeForgejo
import Foundation
import Hummingbird
import Logging
import NIOCore

/// A fake Forgejo plus the broker's router with the real `/mcp` endpoint on 127.0.0.1:0, with
/// the demo server as the child. `environment` adjusts settings (timeouts, caps, child flags).
final class MCPTestBroker: Sendable {
    let frame: TestBrokerFrame
    var forgejo: FakeForgejoServer { frame.forgejo }
    var httpClient: HTTPClient { frame.httpClient }
    let baseURL: String
    let config: BrokerConfig
    /// Every child: legacy sessions and the per-user children of 2026-07-28 requests.
    let host: ChildHost
    /// The endpoint's parked MRTR calls.
    let parking: ModernInputParking
    let store: SQLiteStore
    private let hostTask: Task<Void, any Error>

    /// - Parameter childOptions: demo-mcp-server flags (e.g. `--garbage-stdout`).
    /// - Parameter audit: the endpoint's audit trail (none by default).
    static func start(childOptions: [String] = [], environment: [String: String] = [:],
                      options: MCPEndpoint.Options = .testing, audit: AuditTrail? = nil) async throws -> MCPTestBroker {
        var env = ["FJMCP_CHILD_STOP_GRACE": "300ms", "FJMCP_CHILD_COMMAND": ([MCPDemo.path] + childOptions).joined(separator: " ")]
        env.merge(environment) { _, new in new }
        let frame = try await TestBrokerFrame.start(label: "mcp-test-broker", environment: env)
        let (config, logger, httpClient) = (frame.config, frame.logger, frame.httpClient)
        let masterKey = OpaqueToken.randomBytes(32)
        let store = try SQLiteStore(path: config.databasePath)
        let bearer = BearerAuthenticator(config: config, store: store)
        let host = ChildHost(limits: SessionRegistryLimits(config.sessions), launcher: ChildLauncher(config: config),
                             tokens: StoreUpstreamTokenProvider(store: store, masterKey: masterKey), logger: logger, records: store,
                             hasLiveGrant: { userID in (try? await store.activeGrants(userID: userID)).map { !$0.isEmpty } ?? true })
        let server = AuthorizationServer(config: config, store: store, masterKey: masterKey, httpClient: httpClient, bearer: bearer,
                                         revocationObserver: host)
        let endpoint = MCPEndpoint(host: host, bearer: bearer, publicURL: config.publicURL, options: options,
                                   tools: ToolGate(policy: config.tools), audit: audit)
        frame.responder.install(BrokerServer.makeRouter(config: config, checks: [], providers: [server, endpoint]))
        let hostTask = Task { try await host.run() }
        return MCPTestBroker(frame: frame, baseURL: config.issuer, config: config, host: host, parking: endpoint.parking!, store: store,
                             hostTask: hostTask)
    }

    private init(frame: TestBrokerFrame, baseURL: String, config: BrokerConfig, host: ChildHost, parking: ModernInputParking,
                 store: SQLiteStore, hostTask: Task<Void, any Error>) {
        self.frame = frame
        self.baseURL = baseURL
        self.config = config
        self.host = host
        self.parking = parking
        self.store = store
        self.hostTask = hostTask
    }

    /// Logs `login` in through the whole OAuth flow and returns an MCP client holding the token.
    func client(login: String = "alice") async throws -> MCPTestClient {
        try await signIn(login: login).client
    }

    /// Like `client(login:)`, with what the code exchange handed the (newly registered) OAuth client.
    func signIn(login: String = "alice") async throws -> (client: MCPTestClient, tokens: MCPLogin.Tokens) {
        await forgejo.state.setAutoApproveUser(login)
        let tokens = try await MCPLogin.login(baseURL: baseURL, resource: config.mcpResource, httpClient: httpClient)
        return (MCPTestClient(baseURL: baseURL, accessToken: tokens.accessToken, httpClient: httpClient), tokens)
    }

    func stop() async {
        hostTask.cancel()
        _ = await hostTask.result
        await host.shutdown()
        await frame.stop(closing: store)
    }
}

extension MCPEndpoint.Options {
    /// Switch to SSE quickly so cancellation tests do not wait long for the response head.
    static var testing: MCPEndpoint.Options {
        var options = MCPEndpoint.Options()
        options.jsonWindow = .milliseconds(300)
        options.keepAliveInterval = .seconds(1)
        return options
    }
}

/// The `demo-mcp-server` product next to the test bundle.
enum MCPDemo {
    static var path: String { ProductProcess.productsDirectory.appendingPathComponent("demo-mcp-server").path }
}
