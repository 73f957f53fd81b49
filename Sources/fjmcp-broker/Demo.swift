import ArgumentParser
import BrokerKit
import FakeForgejo
import Foundation
import Logging

/// One command, no Forgejo needed: the built-in fake Forgejo (a demo user and an OAuth2
/// application registered for this broker's callback), the broker with the embedded SQLite store,
/// and the demo MCP child, all on loopback until Ctrl-C.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the broker with a built-in fake Forgejo and the demo MCP child (no Forgejo needed).",
        discussion: "Any setting flag of `serve` can be added (e.g. --child-token-env GITEA_TOKEN).\n\n" + settingsHelp
    )

    @Option(help: "host:port for the broker; the MCP URL is http://<host:port>/mcp.")
    var listen = "127.0.0.1:8080"

    @Option(help: "Keep state in this directory instead of a fresh temporary one.")
    var dataDir: String?

    @Option(help: "Child command line instead of the bundled demo-mcp-server (e.g. a gitea-mcp path).")
    var child: String?

    @Option(help: "Login of the demo user (password: demo).")
    var user = "demo"

    @OptionGroup var settings: SettingFlags

    func run() async throws {
        guard let address = ListenAddress(parsing: listen), address.port != 0 else {
            // The fake Forgejo registers the callback URL before the broker binds, so the port must be known.
            throw fail("--listen must be host:port with a fixed port", status: ExitStatus.badConfiguration)
        }
        let dataDirectory = try prepareDataDirectory()
        let publicURL = "http://\(address)"
        let clientID = "fjmcp-demo"
        let clientSecret = OpaqueToken.generate(.clientSecret)
        let forgejo: FakeForgejoServer
        do {
            forgejo = try await FakeForgejoServer.start(host: "127.0.0.1", port: 0, options: FakeForgejoOptions(
                users: [FakeUserSeed(login: user, password: "demo")],
                apps: [FakeAppSeed(name: "MCP broker (demo)", redirectURIs: ["\(publicURL)/oauth/callback"], confidential: true,
                                   clientID: clientID, clientSecret: clientSecret)]))
        } catch {
            throw fail("cannot start the fake Forgejo: \(error)")
        }

        var environment = ProcessInfo.processInfo.environment
        environment["FJMCP_PUBLIC_URL"] = publicURL
        environment["FJMCP_LISTEN"] = listen
        environment["FJMCP_DATA_DIR"] = dataDirectory
        environment["FJMCP_DATABASE_URL"] = nil
        environment["FORGEJO_URL"] = forgejo.baseURL
        environment["FORGEJO_CLIENT_ID"] = clientID
        environment["FORGEJO_CLIENT_SECRET"] = clientSecret
        environment["FORGEJO_CLIENT_SECRET_FILE"] = nil
        environment["FJMCP_CHILD_COMMAND"] = child ?? Self.siblingExecutable("demo-mcp-server")
        let config: BrokerConfig
        do {
            config = try loadConfig(ConfigSource(environment: environment, arguments: settings.raw))
        } catch {
            await forgejo.stop()
            throw error
        }
        BrokerLogHandler.bootstrap(level: config.logLevel, format: config.logFormat)
        let logger = Logger(label: "fjmcp-broker")
        do {
            let broker = try await Broker(config: config, logger: logger)
            try await broker.serve { port in
                Self.printBanner(mcpURL: "http://\(config.listen.host):\(port)/mcp", forgejo: forgejo.baseURL, user: user,
                                 dataDirectory: dataDirectory)
            }
        } catch let error as BrokerStartupError {
            await forgejo.stop()
            throw fail("\(error)")
        }
        await forgejo.stop()
    }

    /// A named directory must be usable; otherwise a fresh private temporary one is made, so two
    /// demos never share state by accident.
    private func prepareDataDirectory() throws -> String {
        if let dataDir {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: dataDir, isDirectory: &isDirectory)
            if exists && !isDirectory.boolValue { throw fail("--data-dir \(dataDir) is not a directory") }
            if !exists {
                do {
                    try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true,
                                                            attributes: [.posixPermissions: 0o700])
                } catch {
                    throw fail("cannot create --data-dir \(dataDir): \(error.localizedDescription)")
                }
            }
            guard access(dataDir, W_OK) == 0 else { throw fail("--data-dir \(dataDir) is not writable") }
            return dataDir
        }
        let path = NSTemporaryDirectory() + "fjmcp-demo-" + Base64URL.encode(OpaqueToken.randomBytes(6))
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw fail("cannot create a temporary data directory: \(error.localizedDescription)")
        }
        return path
    }

    /// The demo child ships next to this binary (same build directory or install prefix).
    static func siblingExecutable(_ name: String) -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent(name).path
    }

    private static func printBanner(mcpURL: String, forgejo: String, user: String, dataDirectory: String) {
        let banner = """

        forgejo-mcp-broker demo is running.

          MCP URL:        \(mcpURL)
          Forgejo login:  \(user) / demo   (built-in fake Forgejo at \(forgejo))
          Data directory: \(dataDirectory)

        Connect a client that runs on this machine:
          - MCP Inspector:  npx @modelcontextprotocol/inspector  → Transport "Streamable HTTP", URL \(mcpURL)
          - Claude Code:    claude mcp add --transport http fjmcp-demo \(mcpURL)
          - Python SDK:     streamablehttp_client("\(mcpURL)", auth=OAuthClientProvider(...))
          The client registers itself, your browser shows the broker's consent page and the fake
          Forgejo login (\(user) / demo); then call the `whoami` tool.

        Hosted connectors (Claude.ai and Claude Desktop's "Add custom connector", other web apps)
        connect from their provider's servers, not from this machine: they cannot reach this
        loopback address. They need a public HTTPS URL: `fjmcp-broker serve` behind a TLS proxy
        (docs/deploy-caddy.md), or behind an HTTPS tunnel with FJMCP_PUBLIC_URL set to the
        tunnel's URL.

        Press Ctrl-C to stop.

        """
        FileHandle.standardOutput.write(Data(banner.utf8))
    }
}
