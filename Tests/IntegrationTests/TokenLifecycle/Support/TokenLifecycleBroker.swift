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
    let frame: TestBrokerFrame
    var forgejo: FakeForgejoServer { frame.forgejo }
    var config: BrokerConfig { frame.config }
    var httpClient: HTTPClient { frame.httpClient }
    let assembly: BrokerAssembly
    let clock: ManualClock
    private let store: SQLiteStore
    private let group: ServiceGroup
    private let groupTask: Task<Void, any Error>

    static func start(environment: [String: String] = [:], rotation: ChildRotation.Options = ChildRotation.Options()) async throws
        -> TokenLifecycleBroker
    {
        var env = ["FJMCP_CHILD_STOP_GRACE": "300ms", "FJMCP_CHILD_COMMAND": MCPDemo.path]
        env.merge(environment) { _, new in new }
        let frame = try await TestBrokerFrame.start(label: "token-lifecycle-broker", environment: env)
        let (config, logger, httpClient) = (frame.config, frame.logger, frame.httpClient)
        let store = try SQLiteStore(path: config.databasePath)
        let clock = ManualClock()
        var options = BrokerAssembly.Options()
        options.upstreamClock = ManualUpstreamClock(clock)
        options.endpoint = .testing
        options.rotation = rotation
        let assembly = BrokerAssembly(config: config, store: store, masterKey: OpaqueToken.randomBytes(32), httpClient: httpClient,
                                      logger: logger, options: options)
        frame.responder.install(BrokerServer.makeRouter(config: config, checks: [], providers: assembly.providers))
        let group = ServiceGroup(configuration: .init(services: assembly.services.map { .init(service: $0) }, logger: logger))
        let groupTask = Task { try await group.run() }
        return TokenLifecycleBroker(frame: frame, assembly: assembly, clock: clock, store: store, group: group, groupTask: groupTask)
    }

    private init(frame: TestBrokerFrame, assembly: BrokerAssembly, clock: ManualClock, store: SQLiteStore, group: ServiceGroup,
                 groupTask: Task<Void, any Error>) {
        self.frame = frame
        self.assembly = assembly
        self.clock = clock
        self.store = store
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
        await frame.stop(closing: store)
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
