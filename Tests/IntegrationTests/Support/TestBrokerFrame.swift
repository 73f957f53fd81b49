import AsyncHTTPClient
import BrokerKit
import FakeForgejo
import Foundation
import Hummingbird
import Logging

/// What every in-process test broker needs before its own wiring: a fake Forgejo (with alice and
/// bob, and the broker's OAuth app registered for its callback), an HTTP server on 127.0.0.1:0
/// whose routes are installed afterwards (the public URL must name the port first), a private
/// data directory, the loaded configuration and an HTTP client that never follows redirects.
struct TestBrokerFrame: Sendable {
    static let forgejoClientID = "fjmcp-broker-app"
    static let forgejoClientSecret = "gto_fake_broker_secret"
    static let users = [FakeUserSeed(login: "alice", password: "alice-pw", id: 101),
                        FakeUserSeed(login: "bob", password: "bob-pw", id: 102)]

    let forgejo: FakeForgejoServer
    let responder: SwappableResponder
    let config: BrokerConfig
    let httpClient: HTTPClient
    let directory: String
    let logger: Logger
    private let server: BackgroundServer

    /// - Parameters:
    ///   - label: the logger label and the data directory's prefix.
    ///   - autoApprove: the Forgejo user logged in and consenting automatically (nil: forms).
    ///   - environment: settings over the frame's own (public URL, Forgejo app, data dir, log level).
    static func start(label: String, autoApprove: String? = "alice", environment: [String: String]) async throws -> TestBrokerFrame {
        let forgejo = try await FakeForgejoServer.start(options: FakeForgejoOptions(autoApproveUser: autoApprove, users: users))
        let responder = SwappableResponder()
        var logger = Logger(label: label)
        logger.logLevel = .warning
        let server = try await BackgroundServer.start(logger: logger) { onServerRunning in
            Application(responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                        onServerRunning: onServerRunning, logger: logger)
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var env = [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:\(server.port)", "FORGEJO_URL": forgejo.baseURL,
            "FORGEJO_CLIENT_ID": forgejoClientID, "FORGEJO_CLIENT_SECRET": forgejoClientSecret,
            "FJMCP_DATA_DIR": directory, "FJMCP_LOG_LEVEL": "warning",
            // These suites are about sessions, OAuth and tokens, and read the demo child's own
            // pid; the sandbox has its own tests, and the e2e suite runs everything inside it.
            "FJMCP_CHILD_SANDBOX": "off",
        ]
        env.merge(environment) { _, new in new }
        let config = try BrokerConfig.load(from: ConfigSource(environment: env))
        try await forgejo.state.registerApp(FakeAppSeed(name: "broker", redirectURIs: [config.issuer + "/oauth/callback"],
                                                        clientID: forgejoClientID, clientSecret: forgejoClientSecret))
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        return TestBrokerFrame(forgejo: forgejo, responder: responder, config: config, httpClient: httpClient, directory: directory,
                               logger: logger, server: server)
    }

    /// Stops serving and Forgejo, closes `store` once nothing can use it any more, and deletes
    /// the data directory. The caller stops its own services first.
    func stop(closing store: SQLiteStore?) async {
        await server.stop()
        try? await httpClient.shutdown()
        await forgejo.stop()
        try? store?.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
