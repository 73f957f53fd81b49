import AsyncHTTPClient
import BrokerKit
import FakeForgejo
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A fake Forgejo plus the broker router (authorization server and `/mcp`) served on
/// 127.0.0.1:0, over a temporary SQLite file. Reusable by any suite that needs logged-in
/// clients: `start()`, then ``logInAndGetTokens(login:client:browser:)``.
final class OAuthTestBroker: Sendable {
    static let forgejoClientID = "fjmcp-broker-app"
    static let forgejoClientSecret = "gto_fake_broker_secret"
    static let users = [FakeUserSeed(login: "alice", password: "alice-pw", id: 101),
                        FakeUserSeed(login: "bob", password: "bob-pw", id: 102)]

    struct Components: Sendable {
        let store: SQLiteStore
        let bearer: BearerAuthenticator
        let authorizationServer: AuthorizationServer
    }

    let forgejo: FakeForgejoServer
    let baseURL: String
    let config: BrokerConfig
    let clock: ManualClock
    let httpClient: HTTPClient
    let directory: String
    private let options: AuthorizationServer.Options
    private let masterKey: [UInt8]
    private let responder: SwappableResponder
    private let server: BackgroundServer
    private let current: Mutex<Components?>

    var components: Components {
        get throws {
            guard let components = current.withLock({ $0 }) else { throw CancellationError() }
            return components
        }
    }

    var store: SQLiteStore { get throws { try components.store } }
    var issuer: String { config.issuer }

    /// - Parameters:
    ///   - autoApprove: the Forgejo user that is logged in and consents automatically; nil
    ///     makes the browser go through Forgejo's login and consent forms.
    ///   - environment: extra settings (e.g. `FJMCP_REFRESH_GRACE`).
    static func start(autoApprove: String? = "alice", environment: [String: String] = [:],
                      options: AuthorizationServer.Options = AuthorizationServer.Options()) async throws -> OAuthTestBroker {
        let forgejo = try await FakeForgejoServer.start(options: FakeForgejoOptions(autoApproveUser: autoApprove, users: users))
        let responder = SwappableResponder()
        var logger = Logger(label: "oauth-test-broker")
        logger.logLevel = .warning
        let server = try await BackgroundServer.start(logger: logger) { onServerRunning in
            Application(responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                        onServerRunning: onServerRunning, logger: logger)
        }
        let port = server.port
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("oauth-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var env = [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:\(port)", "FORGEJO_URL": forgejo.baseURL,
            "FORGEJO_CLIENT_ID": forgejoClientID, "FORGEJO_CLIENT_SECRET": forgejoClientSecret,
            "FJMCP_DATA_DIR": directory, "FJMCP_CIMD_ALLOW_PRIVATE": "true", "FJMCP_LOG_LEVEL": "warning",
        ]
        env.merge(environment) { _, new in new }
        let config = try BrokerConfig.load(from: ConfigSource(environment: env))
        try await forgejo.state.registerApp(FakeAppSeed(name: "broker", redirectURIs: [config.issuer + "/oauth/callback"],
                                                        clientID: forgejoClientID, clientSecret: forgejoClientSecret))
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        let broker = OAuthTestBroker(
            forgejo: forgejo, baseURL: config.issuer, config: config, clock: ManualClock(),
            httpClient: HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration), directory: directory,
            options: options, masterKey: OpaqueToken.randomBytes(32), responder: responder, server: server)
        try broker.restart()
        return broker
    }

    private init(forgejo: FakeForgejoServer, baseURL: String, config: BrokerConfig, clock: ManualClock, httpClient: HTTPClient,
                 directory: String, options: AuthorizationServer.Options, masterKey: [UInt8], responder: SwappableResponder,
                 server: BackgroundServer) {
        self.forgejo = forgejo
        self.baseURL = baseURL
        self.config = config
        self.clock = clock
        self.httpClient = httpClient
        self.directory = directory
        self.options = options
        self.masterKey = masterKey
        self.responder = responder
        self.server = server
        self.current = Mutex(nil)
    }

    /// Builds a fresh store, authenticator and router over the same database file and key, as
    /// a restarted broker process would (in-memory caches and rate limits are gone).
    func restart() throws {
        let store = try SQLiteStore(path: config.databasePath)
        let bearer = BearerAuthenticator(config: config, store: store, clock: clock.oauthClock)
        let server = AuthorizationServer(config: config, store: store, masterKey: masterKey, httpClient: httpClient, bearer: bearer,
                                         clock: clock.oauthClock, options: options)
        let router = BrokerServer.makeRouter(config: config, checks: [], providers: [server, BearerEchoRoute(bearer: bearer)])
        let previous = current.withLock { components in
            defer { components = Components(store: store, bearer: bearer, authorizationServer: server) }
            return components
        }
        responder.install(router)
        try previous?.store.close()
    }

    func stop() async {
        await server.stop()
        try? await httpClient.shutdown()
        await forgejo.stop()
        try? current.withLock { $0 }?.store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
