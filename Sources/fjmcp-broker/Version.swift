import ArgumentParser
import BrokerKit

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the broker's version.")

    func run() {
        print("fjmcp-broker \(BrokerVersion.string)")
    }
}
