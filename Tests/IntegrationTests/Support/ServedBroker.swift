import AsyncHTTPClient
import BrokerKit
import FakeForgejo
import Foundation

/// `fjmcp-broker serve` as an operator runs it, against a fake Forgejo, on a data directory that
/// survives restarts of the process (`restart()`), with the admin commands at hand.
final class ServedBroker: @unchecked Sendable {
    let forgejo: FakeForgejoServer
    let httpClient: HTTPClient
    let directory: String
    let port: Int
    /// Extra settings for every start.
    let environment: [String: String]
    private(set) var process: ProductProcess?

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// `port`: the one to listen on, when a setting must name it before the start (a replica's address).
    static func start(environment: [String: String] = [:], port: Int? = nil) async throws -> ServedBroker {
        let forgejo = try await FakeForgejoServer.start(options: FakeForgejoOptions(autoApproveUser: "alice", users: OAuthTestBroker.users))
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        let broker = ServedBroker(
            forgejo: forgejo, httpClient: HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration),
            directory: NSTemporaryDirectory() + "fjmcp-served-" + UUID().uuidString, port: try port ?? FreePort.pick(), environment: environment)
        try await forgejo.state.registerApp(FakeAppSeed(
            name: "broker", redirectURIs: [broker.baseURL + "/oauth/callback"], clientID: OAuthTestBroker.forgejoClientID,
            clientSecret: OAuthTestBroker.forgejoClientSecret))
        try await broker.launch()
        return broker
    }

    private init(forgejo: FakeForgejoServer, httpClient: HTTPClient, directory: String, port: Int, environment: [String: String]) {
        self.forgejo = forgejo
        self.httpClient = httpClient
        self.directory = directory
        self.port = port
        self.environment = environment
    }

    private func launch() async throws {
        var settings = [
            "FJMCP_PUBLIC_URL": baseURL, "FJMCP_LISTEN": "127.0.0.1:\(port)", "FJMCP_DATA_DIR": directory,
            "FORGEJO_URL": forgejo.baseURL, "FORGEJO_CLIENT_ID": OAuthTestBroker.forgejoClientID,
            "FORGEJO_CLIENT_SECRET": OAuthTestBroker.forgejoClientSecret, "FJMCP_CHILD_COMMAND": MCPDemo.path,
            "FJMCP_CHILD_STOP_GRACE": "300ms",
            // Tests read the demo child's own pid (in a sandbox it would be its namespace's).
            "FJMCP_CHILD_SANDBOX": "off",
        ]
        settings.merge(environment) { _, new in new }
        let process = try ProductProcess("fjmcp-broker", arguments: ["serve"], environment: settings)
        self.process = process
        _ = try await process.waitFor("the listening line") { ServeBinaryTests.listeningPort(in: $0.stderr) }
    }

    /// Stops the process (SIGTERM) and starts a new one on the same data directory and port.
    func restart() async throws {
        await stopProcess()
        try await launch()
    }

    func stopProcess() async {
        process?.signal(SIGTERM)
        _ = await process?.waitForExit(timeout: .seconds(10))
    }

    /// A client of `login` (a new OAuth client), holding its token.
    func client(login: String = "alice") async throws -> (client: MCPTestClient, tokens: MCPLogin.Tokens) {
        await forgejo.state.setAutoApproveUser(login)
        let tokens = try await MCPLogin.login(baseURL: baseURL, resource: baseURL + "/mcp", httpClient: httpClient)
        return (MCPTestClient(baseURL: baseURL, accessToken: tokens.accessToken, httpClient: httpClient), tokens)
    }

    private var adminEnvironment: [String: String] { ["FJMCP_PUBLIC_URL": baseURL, "FJMCP_DATA_DIR": directory] }

    /// Runs an admin command against the running broker; its exit status and output.
    func admin(_ arguments: [String]) async throws -> (status: Int32?, stdout: String, stderr: String) {
        let command = try ProductProcess("fjmcp-broker", arguments: arguments, environment: adminEnvironment)
        let status = await command.waitForExit(timeout: .seconds(20))
        return (status, command.stdout, command.stderr)
    }

    func shutdown() async {
        await stopProcess()
        try? await httpClient.shutdown()
        await forgejo.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
