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
        _ = try loadConfig(source)
        for line in BrokerConfig.describe(source) { print(line) }
        print("configuration ok")
    }
}
