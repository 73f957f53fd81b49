import ArgumentParser
import BrokerKit

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the configuration and print the effective settings, secrets redacted.",
        discussion: settingsHelp
    )

    @OptionGroup var settings: SettingFlags

    func run() async throws {
        let source = settings.source()
        let config = try loadConfig(source)
        for line in BrokerConfig.describe(source) { print(line) }
        for line in config.access.summary { print(line) }
        print(ReplicaSettings.summary(config.replica))
        // What `serve` would do with the children, probed the same way (runs bwrap once).
        switch (config.child.sandbox, ChildSandbox.availability(helperPath: config.child.sandboxHelper)) {
        case (.off, _):
            print("child sandbox: off")
        case (_, .available(let sandbox)):
            print("child sandbox: on (\(sandbox.helper))")
        case (.auto, .unavailable(let reason)):
            print("child sandbox: unavailable, children would run unconfined: \(reason)")
        case (.on, .unavailable(let reason)):
            throw fail("\(BrokerStartupError.sandbox(reason))")
        }
        print("configuration ok")
    }
}
