import ArgumentParser
import FakeForgejo
import Foundation
import UnixSignals

/// Runs a fake Forgejo for out-of-process tests and manual demos until SIGTERM/SIGINT.
@main
struct FakeForgejoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fake-forgejo",
        abstract: "A Forgejo OAuth2 provider and API stand-in for tests and demos.",
        discussion: "Test controls are served as JSON under /_fake/ (see ControlRoutes).")

    @Option(help: "host:port to bind; port 0 picks a free one.")
    var listen = "127.0.0.1:0"

    @Option(help: "A user as login:password (repeatable).")
    var user: [String] = []

    @Option(help: "A confidential OAuth app as client_id:secret:redirect_uri (repeatable).")
    var app: [String] = []

    @Option(name: .customLong("access-ttl"), help: "Access token lifetime in seconds.")
    var accessTTL = 3600

    @Option(name: .customLong("auto-approve"), help: "Act as this user, logged in and consenting.")
    var autoApprove: String?

    func run() async throws {
        let (host, port) = try Self.parseListen(listen)
        let options = FakeForgejoOptions(
            accessTokenLifetime: accessTTL, autoApproveUser: autoApprove,
            users: try user.map(Self.parseUser), apps: try app.map(Self.parseApp))
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let server = try await FakeForgejoServer.start(host: host, port: port, options: options)
        FileHandle.standardOutput.write(Data("listening on \(server.baseURL)\n".utf8))
        await Self.waitForTermination(signals)
        await server.stop()
    }

    static func parseListen(_ value: String) throws -> (String, Int) {
        guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]) else {
            throw ValidationError("--listen must be host:port")
        }
        let host = value[..<colon].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return (host, port)
    }

    static func parseUser(_ value: String) throws -> FakeUserSeed {
        let parts = value.split(separator: ":", maxSplits: 1)
        guard parts.count == 2 else { throw ValidationError("--user must be login:password") }
        return FakeUserSeed(login: String(parts[0]), password: String(parts[1]))
    }

    /// The redirect URI itself contains colons, so only the first two separate fields.
    static func parseApp(_ value: String) throws -> FakeAppSeed {
        let parts = value.split(separator: ":", maxSplits: 2)
        guard parts.count == 3 else { throw ValidationError("--app must be client_id:secret:redirect_uri") }
        return FakeAppSeed(
            name: String(parts[0]), redirectURIs: [String(parts[2])], confidential: true,
            clientID: String(parts[0]), clientSecret: String(parts[1]))
    }

    /// Signals are trapped before the address is printed, so a supervisor that reads the line
    /// and immediately sends SIGTERM still gets a clean shutdown.
    private static func waitForTermination(_ signals: UnixSignalsSequence) async {
        for await _ in signals { return }
    }
}
