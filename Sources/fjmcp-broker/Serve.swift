import ArgumentParser
import BrokerKit
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the broker until SIGTERM or SIGINT.",
        discussion: settingsHelp
    )

    @OptionGroup var settings: SettingFlags

    func run() async throws {
        let config = try loadConfig(settings.source())
        BrokerLogHandler.bootstrap(level: config.logLevel, format: config.logFormat)
        let logger = Logger(label: "fjmcp-broker")
        let broker: Broker
        do {
            broker = try await Broker(config: config, logger: logger)
        } catch {
            throw fail("\(error)")
        }
        logger.notice("starting", metadata: ["version": "\(BrokerVersion.string)", "public_url": "\(config.issuer)"])
        do {
            try await broker.serve()
        } catch let error as BrokerStartupError {
            throw fail("\(error)", status: error.isConfiguration ? ExitStatus.badConfiguration : ExitStatus.startupFailure)
        }
    }
}
