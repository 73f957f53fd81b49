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
    let registry: SessionRegistry
    /// The per-user children of 2026-07-28 requests.
    let pool: ModernChildPool
    let store: SQLiteStore
    private let registryTask: Task<Void, any Error>
    private let poolTask: Task<Void, any Error>

    /// - Parameter childOptions: demo-mcp-server flags (e.g. `--garbage-stdout`).
    static func start(childOptions: [String] = [], environment: [String: String] = [:],
                      options: MCPEndpoint.Options = .testing) async throws -> MCPTestBroker {
        var env = ["FJMCP_CHILD_STOP_GRACE": "300ms", "FJMCP_CHILD_COMMAND": ([MCPDemo.path] + childOptions).joined(separator: " ")]
        env.merge(environment) { _, new in new }
        let frame = try await TestBrokerFrame.start(label: "mcp-test-broker", environment: env)
        let (config, logger, httpClient) = (frame.config, frame.logger, frame.httpClient)
        let masterKey = OpaqueToken.randomBytes(32)
        let store = try SQLiteStore(path: config.databasePath)
        let bearer = BearerAuthenticator(config: config, store: store)
        let server = AuthorizationServer(config: config, store: store, masterKey: masterKey, httpClient: httpClient, bearer: bearer)
        let registry = SessionRegistry(limits: SessionRegistryLimits(config.sessions), launcher: ChildLauncher(config: config),
                                       tokens: StoreUpstreamTokenProvider(store: store, masterKey: masterKey), logger: logger)
        let pool = ModernChildPool(limits: SessionRegistryLimits(config.sessions), registry: registry, launcher: ChildLauncher(config: config),
                                   tokens: StoreUpstreamTokenProvider(store: store, masterKey: masterKey), logger: logger)
        let endpoint = MCPEndpoint(registry: registry, bearer: bearer, publicURL: config.publicURL, options: options, modernPool: pool)
        frame.responder.install(BrokerServer.makeRouter(config: config, checks: [], providers: [server, endpoint]))
        let registryTask = Task { try await registry.run() }
        let poolTask = Task { try await pool.run() }
        return MCPTestBroker(frame: frame, baseURL: config.issuer, config: config, registry: registry, pool: pool, store: store,
                             registryTask: registryTask, poolTask: poolTask)
    }

    private init(frame: TestBrokerFrame, baseURL: String, config: BrokerConfig, registry: SessionRegistry, pool: ModernChildPool,
                 store: SQLiteStore, registryTask: Task<Void, any Error>, poolTask: Task<Void, any Error>) {
        self.frame = frame
        self.baseURL = baseURL
        self.config = config
        self.registry = registry
        self.pool = pool
        self.store = store
        self.registryTask = registryTask
        self.poolTask = poolTask
    }

    /// Logs `login` in through the whole OAuth flow and returns an MCP client holding the token.
    func client(login: String = "alice") async throws -> MCPTestClient {
        await forgejo.state.setAutoApproveUser(login)
        let token = try await MCPLogin.accessToken(baseURL: baseURL, resource: config.mcpResource, httpClient: httpClient)
        return MCPTestClient(baseURL: baseURL, accessToken: token, httpClient: httpClient)
    }

    func stop() async {
        registryTask.cancel()
        _ = await registryTask.result
        await registry.shutdown()
        poolTask.cancel()
        _ = await poolTask.result
        await pool.shutdown()
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
