@testable import BrokerKit
import XCTest

/// `FJMCP_MAX_BUFFERED_EVENT_BYTES` and `FJMCP_RATE_LIMIT_SPAWN`: defaults, values, `off`, and
/// what is refused (on `ConfigTests`' minimal settings).
extension ConfigTests {
    private func loadBounds(_ extra: [String: String]) throws(ConfigError) -> BrokerConfig {
        try load(minimal.merging(extra) { _, new in new })
    }

    func testStreamBoundsDefaultsAreAFewMiBPerStreamAndTwentyStartsThenOnePerSecond() throws {
        let sessions = try loadBounds([:]).sessions
        XCTAssertEqual(sessions.maxBufferedEventBytes, 4 << 20)
        XCTAssertEqual(sessions.spawnRate, RateLimiter.Policy(burst: 20, perSecond: 1))
        let limits = SessionRegistryLimits(sessions)
        XCTAssertEqual(limits.maxBufferedEventBytes, 4 << 20)
        XCTAssertEqual(limits.spawnRate, RateLimiter.Policy(burst: 20, perSecond: 1))
    }

    func testStreamBoundsValuesAndOff() throws {
        let sessions = try loadBounds(["FJMCP_MAX_BUFFERED_EVENT_BYTES": "65536", "FJMCP_RATE_LIMIT_SPAWN": "off"]).sessions
        XCTAssertEqual(sessions.maxBufferedEventBytes, 65536)
        XCTAssertNil(sessions.spawnRate, "off switches the spawn limit off (benchmarks)")
        XCTAssertEqual(try loadBounds(["FJMCP_RATE_LIMIT_SPAWN": "5/1m"]).sessions.spawnRate?.burst, 5)
    }

    func testStreamBoundsOutOfRangeOrMalformedValuesAreRefusedByName() {
        for (name, value) in [("FJMCP_MAX_BUFFERED_EVENT_BYTES", "1024"), ("FJMCP_MAX_BUFFERED_EVENT_BYTES", "4MiB"),
                              ("FJMCP_MAX_BUFFERED_EVENT_BYTES", "\(2 << 30)"), ("FJMCP_RATE_LIMIT_SPAWN", "20"),
                              ("FJMCP_RATE_LIMIT_SPAWN", "0/1s")] {
            XCTAssertThrowsError(try loadBounds([name: value]), "\(name)=\(value)") { error in
                XCTAssertTrue("\(error)".contains(name), "\(error)")
            }
        }
    }
}
