import AsyncHTTPClient
import BrokerKit
import FakeForgejo
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// The broker exactly as `Broker.serve` wires it (`BrokerAssembly`, its services in one
/// `ServiceGroup`) in front of a fake Forgejo, with the demo server as the child. The token
/// manager runs on a manual clock that moves together with the fake's, so a test walks through
/// many Forgejo token lifetimes in seconds; everything else runs on real time.
final class TokenLifecycleBroker: Sendable {
    let forgejo: FakeForgejoServer
    let config: BrokerConfig
    let assembly: BrokerAssembly
    let clock: ManualClock
    let httpClient: HTTPClient
    private let store: SQLiteStore
    private let directory: String
    private let serverTask: Task<Void, any Error>
    private let group: ServiceGroup
    private let groupTask: Task<Void, any Error>

    static func start(environment: [String: String] = [:], rotation: ChildRotation.Options = ChildRotation.Options()) async throws
        -> TokenLifecycleBroker
    {
        let forgejo = try await FakeForgejoServer.start(options: FakeForgejoOptions(autoApproveUser: "alice", users: OAuthTestBroker.users))
        let responder = SwappableResponder()
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "token-lifecycle-broker")
        logger.logLevel = .warning
        let app = Application(responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in
                                  continuation.yield(channel.localAddress?.port ?? 0)
                                  continuation.finish()
                              }, logger: logger)
        let serverTask = Task { try await app.run() }
        guard let port = await ports.first(where: { _ in true }) else { throw CancellationError() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("token-lifecycle-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var env = [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:\(port)", "FORGEJO_URL": forgejo.baseURL,
            "FORGEJO_CLIENT_ID": OAuthTestBroker.forgejoClientID, "FORGEJO_CLIENT_SECRET": OAuthTestBroker.forgejoClientSecret,
            "FJMCP_DATA_DIR": directory, "FJMCP_LOG_LEVEL": "warning", "FJMCP_CHILD_STOP_GRACE": "300ms",
            "FJMCP_CHILD_COMMAND": MCPDemo.path,
        ]
        env.merge(environment) { _, new in new }
        let config = try BrokerConfig.load(from: ConfigSource(environment: env))
        try await forgejo.state.registerApp(FakeAppSeed(name: "broker", redirectURIs: [config.issuer + "/oauth/callback"],
                                                        clientID: OAuthTestBroker.forgejoClientID,
                                                        clientSecret: OAuthTestBroker.forgejoClientSecret))
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let store = try SQLiteStore(path: config.databasePath)
        let clock = ManualClock()
        var options = BrokerAssembly.Options()
        options.upstreamClock = ManualUpstreamClock(clock)
        options.endpoint = .testing
        options.rotation = rotation
        let assembly = BrokerAssembly(config: config, store: store, masterKey: OpaqueToken.randomBytes(32), httpClient: httpClient,
                                      logger: logger, options: options)
        responder.install(BrokerServer.makeRouter(config: config, checks: [], providers: assembly.providers))
        let group = ServiceGroup(configuration: .init(services: assembly.services.map { .init(service: $0) }, logger: logger))
        let groupTask = Task { try await group.run() }
        return TokenLifecycleBroker(forgejo: forgejo, config: config, assembly: assembly, clock: clock, httpClient: httpClient,
                                    store: store, directory: directory, serverTask: serverTask, group: group, groupTask: groupTask)
    }

    private init(forgejo: FakeForgejoServer, config: BrokerConfig, assembly: BrokerAssembly, clock: ManualClock, httpClient: HTTPClient,
                 store: SQLiteStore, directory: String, serverTask: Task<Void, any Error>, group: ServiceGroup,
                 groupTask: Task<Void, any Error>) {
        self.forgejo = forgejo
        self.config = config
        self.assembly = assembly
        self.clock = clock
        self.httpClient = httpClient
        self.store = store
        self.directory = directory
        self.serverTask = serverTask
        self.group = group
        self.groupTask = groupTask
    }

    /// Logs alice in through the whole OAuth flow; the client has not initialized yet.
    func login() async throws -> (client: MCPTestClient, tokens: MCPLogin.Tokens) {
        let tokens = try await MCPLogin.login(baseURL: config.issuer, resource: config.mcpResource, httpClient: httpClient)
        return (MCPTestClient(baseURL: config.issuer, accessToken: tokens.accessToken, httpClient: httpClient), tokens)
    }

    /// Moves Forgejo's and the token manager's clocks together.
    func advanceClocks(seconds: Int) async {
        await forgejo.state.advanceClock(seconds: seconds)
        clock.advance(seconds: TimeInterval(seconds))
    }

    func refreshes() async -> Int {
        await forgejo.state.counters().refreshesByUser["alice"] ?? 0
    }

    /// A broker refresh, as the client would send it.
    func refresh(_ tokens: MCPLogin.Tokens) async throws -> JSONAnswer {
        try await MCPLogin.send(config.issuer + "/oauth/token", httpClient: httpClient, form: [
            ("grant_type", "refresh_token"), ("refresh_token", tokens.refreshToken ?? ""), ("client_id", tokens.clientID),
            ("resource", config.mcpResource),
        ])
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await groupTask.result
        serverTask.cancel()
        _ = await serverTask.result
        try? await httpClient.shutdown()
        await forgejo.stop()
        try? store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// The token manager's view of a `ManualClock`. Sleepers poll, because the manual clock has no
/// wake-up hook; 10 ms is far below anything the tests wait for.
struct ManualUpstreamClock: UpstreamClock {
    let clock: ManualClock

    init(_ clock: ManualClock) { self.clock = clock }

    func now() -> Date { clock.now }

    func sleep(until deadline: Date) async throws {
        while clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    }
}
