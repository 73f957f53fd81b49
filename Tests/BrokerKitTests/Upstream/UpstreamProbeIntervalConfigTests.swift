import BrokerKit
import XCTest

/// `FJMCP_UPSTREAM_PROBE_INTERVAL`: its default, a value, and what is refused.
final class UpstreamProbeIntervalConfigTests: XCTestCase {
    private let minimal = [
        "FJMCP_PUBLIC_URL": "https://mcp.example.org", "FORGEJO_URL": "https://forgejo.example.org/",
        "FORGEJO_CLIENT_ID": "id", "FORGEJO_CLIENT_SECRET": "secret",
    ]

    private func load(_ extra: [String: String]) throws(ConfigError) -> BrokerConfig {
        try BrokerConfig.load(from: ConfigSource(environment: minimal.merging(extra) { _, new in new }))
    }

    func testTheDefaultIsFiveMinutesAndAValueIsTaken() throws {
        XCTAssertEqual(try load([:]).upstreamProbeInterval, .seconds(300))
        XCTAssertEqual(try load(["FJMCP_UPSTREAM_PROBE_INTERVAL": "90s"]).upstreamProbeInterval, .seconds(90))
        XCTAssertEqual(try BrokerConfig.load(from: ConfigSource(environment: minimal, arguments: ["--upstream-probe-interval", "1m"]))
            .upstreamProbeInterval, .seconds(60))
    }

    func testZeroOrMalformedValuesAreRefusedByName() {
        for value in ["0s", "soon", "-5m", ""] {
            XCTAssertThrowsError(try load(["FJMCP_UPSTREAM_PROBE_INTERVAL": value]), value) { error in
                XCTAssertTrue("\(error)".contains("FJMCP_UPSTREAM_PROBE_INTERVAL"), "\(error)")
            }
        }
    }
}
