import ArgumentParser
import BrokerKit
import Foundation
import Logging

@main
struct FJMCPBroker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fjmcp-broker",
        abstract: "OAuth 2.1 authorization server and MCP session broker in front of Forgejo.",
        subcommands: [Serve.self, Demo.self, CheckConfig.self, Sessions.self, Revoke.self, Audit.self, Version.self],
        defaultSubcommand: nil
    )

    static func main() async {
        ConcurrencyOnEventLoops.install()
        await Self.main(nil)
    }
}

/// Settings are described once (``Setting/all``) and accepted both from the environment and as
/// flags; this text is what `--help` shows for them.
let settingsHelp: String = {
    let lines = Setting.all.map { setting in
        let flag = setting.flag + (setting.isSecret ? " | \(setting.flag)-file" : "")
        let defaultText = setting.defaultValue.map { $0.isEmpty ? " (default: empty)" : " (default: \($0))" } ?? ""
        return "  \(flag)\n      env \(setting.env)\(setting.isSecret ? " or \(setting.fileEnv)" : ""): \(setting.help)\(defaultText)"
    }
    return "Settings (flags override environment variables):\n" + lines.joined(separator: "\n")
}()

/// Flags that are settings; ArgumentParser hands them over unparsed so one table drives both
/// the environment and the command line.
struct SettingFlags: ParsableArguments {
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var raw: [String] = []

    func source() -> ConfigSource {
        ConfigSource(environment: ProcessInfo.processInfo.environment, arguments: raw)
    }
}

enum ExitStatus {
    static let badConfiguration: Int32 = 2
    static let startupFailure: Int32 = 1
}

/// Prints configuration problems one per line and exits 2, the documented contract for scripts.
func loadConfig(_ source: ConfigSource, requireUpstream: Bool = true) throws -> BrokerConfig {
    do {
        return try BrokerConfig.load(from: source, requireUpstream: requireUpstream)
    } catch {
        for problem in error.problems { FileHandle.standardError.write(Data("configuration error: \(problem)\n".utf8)) }
        throw ExitCode(ExitStatus.badConfiguration)
    }
}

func fail(_ message: String, status: Int32 = ExitStatus.startupFailure) -> ExitCode {
    FileHandle.standardError.write(Data("fjmcp-broker: \(message)\n".utf8))
    return ExitCode(status)
}
