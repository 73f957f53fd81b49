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
    let forgejo: FakeForgejoServer
    let baseURL: String
    let config: BrokerConfig
    let registry: SessionRegistry
    /// The per-user children of 2026-07-28 requests.
    let pool: ModernChildPool
    let store: SQLiteStore
    let httpClient: HTTPClient
    private let directory: String
    private let serverTask: Task<Void, any Error>
    private let registryTask: Task<Void, any Error>
    private let poolTask: Task<Void, any Error>

    /// - Parameter childOptions: demo-mcp-server flags (e.g. `--garbage-stdout`).
    static func start(childOptions: [String] = [], environment: [String: String] = [:],
                      options: MCPEndpoint.Options = .testing) async throws -> MCPTestBroker {
        let forgejo = try await FakeForgejoServer.start(options: FakeForgejoOptions(autoApproveUser: "alice", users: OAuthTestBroker.users))
        let responder = SwappableResponder()
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "mcp-test-broker")
        logger.logLevel = .warning
        let app = Application(responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in
                                  continuation.yield(channel.localAddress?.port ?? 0)
                                  continuation.finish()
                              }, logger: logger)
        let serverTask = Task { try await app.run() }
        guard let port = await ports.first(where: { _ in true }) else { throw CancellationError() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mcp-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var env = [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:\(port)", "FORGEJO_URL": forgejo.baseURL,
            "FORGEJO_CLIENT_ID": OAuthTestBroker.forgejoClientID, "FORGEJO_CLIENT_SECRET": OAuthTestBroker.forgejoClientSecret,
            "FJMCP_DATA_DIR": directory, "FJMCP_LOG_LEVEL": "warning", "FJMCP_CHILD_STOP_GRACE": "300ms",
            "FJMCP_CHILD_COMMAND": ([MCPDemo.path] + childOptions).joined(separator: " "),
        ]
        env.merge(environment) { _, new in new }
        let config = try BrokerConfig.load(from: ConfigSource(environment: env))
        try await forgejo.state.registerApp(FakeAppSeed(name: "broker", redirectURIs: [config.issuer + "/oauth/callback"],
                                                        clientID: OAuthTestBroker.forgejoClientID,
                                                        clientSecret: OAuthTestBroker.forgejoClientSecret))
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let masterKey = OpaqueToken.randomBytes(32)
        let store = try SQLiteStore(path: config.databasePath)
        let bearer = BearerAuthenticator(config: config, store: store)
        let server = AuthorizationServer(config: config, store: store, masterKey: masterKey, httpClient: httpClient, bearer: bearer)
        let registry = SessionRegistry(limits: SessionRegistryLimits(config.sessions), launcher: ChildLauncher(config: config),
                                       tokens: StoreUpstreamTokenProvider(store: store, masterKey: masterKey), logger: logger)
        let pool = ModernChildPool(limits: SessionRegistryLimits(config.sessions), registry: registry, launcher: ChildLauncher(config: config),
                                   tokens: StoreUpstreamTokenProvider(store: store, masterKey: masterKey), logger: logger)
        let endpoint = MCPEndpoint(registry: registry, bearer: bearer, publicURL: config.publicURL, options: options, modernPool: pool)
        responder.install(BrokerServer.makeRouter(config: config, checks: [], providers: [server, endpoint]))
        let registryTask = Task { try await registry.run() }
        let poolTask = Task { try await pool.run() }
        return MCPTestBroker(forgejo: forgejo, baseURL: config.issuer, config: config, registry: registry, pool: pool, store: store,
                             httpClient: httpClient, directory: directory, serverTask: serverTask, registryTask: registryTask,
                             poolTask: poolTask)
    }

    private init(forgejo: FakeForgejoServer, baseURL: String, config: BrokerConfig, registry: SessionRegistry, pool: ModernChildPool,
                 store: SQLiteStore, httpClient: HTTPClient, directory: String, serverTask: Task<Void, any Error>,
                 registryTask: Task<Void, any Error>, poolTask: Task<Void, any Error>) {
        self.forgejo = forgejo
        self.baseURL = baseURL
        self.config = config
        self.registry = registry
        self.pool = pool
        self.store = store
        self.httpClient = httpClient
        self.directory = directory
        self.serverTask = serverTask
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
        serverTask.cancel()
        _ = await serverTask.result
        try? await httpClient.shutdown()
        await forgejo.stop()
        try? store.close()
        try? FileManager.default.removeItem(atPath: directory)
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
