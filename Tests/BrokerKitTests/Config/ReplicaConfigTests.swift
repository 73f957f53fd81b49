import BrokerKit
import XCTest

/// `FJMCP_REPLICA_URL`, `FJMCP_REPLICA_HEARTBEAT` and `FJMCP_REPLICA_LAPSE`: off by default,
/// the address normalised, the defaults derived from the heartbeat, and every refusal named
/// (on `ConfigTests`' minimal settings).
extension ConfigTests {
    private static let postgres = ["FJMCP_DATABASE_URL": "postgres://broker@db.example:5432/broker"]

    private func loadReplica(_ extra: [String: String]) throws(ConfigError) -> BrokerConfig {
        try load(minimal.merging(Self.postgres) { _, new in new }.merging(extra) { _, new in new })
    }

    private func replicaProblems(_ extra: [String: String]) -> [String] {
        problems(minimal.merging(Self.postgres) { _, new in new }.merging(extra) { _, new in new })
    }

    func testReplicaModeIsOffUnlessTheURLIsSet() throws {
        XCTAssertNil(try load(minimal).replica, "SQLite, nothing set")
        XCTAssertNil(try loadReplica([:]).replica, "PostgreSQL, nothing set")
        XCTAssertNil(try loadReplica(["FJMCP_REPLICA_URL": " "]).replica, "an empty value is unset")
        XCTAssertEqual(ReplicaSettings.summary(nil), "replica mode: off (one broker per database)")
    }

    func testReplicaDefaultsAreTwoSecondBeatsAndALapseOfFive() throws {
        let replica = try XCTUnwrap(try loadReplica(["FJMCP_REPLICA_URL": "http://10.0.0.5:8080"]).replica)
        XCTAssertEqual(replica, ReplicaSettings(address: "http://10.0.0.5:8080", heartbeat: .seconds(2), lapse: .seconds(10)))
        XCTAssertEqual(ReplicaSettings.summary(replica),
                       "replica mode: on, reached at http://10.0.0.5:8080, heartbeat every 2s, presumed dead after 10s")
    }

    func testReplicaAddressIsNormalisedToItsOrigin() throws {
        for (raw, address) in [("http://10.0.0.5:8080/", "http://10.0.0.5:8080"), ("HTTPS://Broker-2.internal", "https://broker-2.internal"),
                               ("https://broker-2.internal:443/", "https://broker-2.internal"), ("http://[fd00::5]:8080", "http://[fd00::5]:8080")] {
            XCTAssertEqual(try loadReplica(["FJMCP_REPLICA_URL": raw]).replica?.address, address, raw)
        }
    }

    func testReplicaHeartbeatAndLapseAreRead() throws {
        let url = ["FJMCP_REPLICA_URL": "http://10.0.0.5:8080"]
        let custom = try loadReplica(url.merging(["FJMCP_REPLICA_HEARTBEAT": "500ms", "FJMCP_REPLICA_LAPSE": "1500ms"]) { _, new in new }).replica
        XCTAssertEqual(custom?.heartbeat, .milliseconds(500))
        XCTAssertEqual(custom?.lapse, .milliseconds(1500), "exactly three heartbeats is enough")
        let derived = try loadReplica(url.merging(["FJMCP_REPLICA_HEARTBEAT": "100ms"]) { _, new in new }).replica
        XCTAssertEqual(derived?.lapse, .milliseconds(500), "the default lapse follows the heartbeat")
        XCTAssertEqual(try loadReplica(url.merging(["FJMCP_REPLICA_HEARTBEAT": "60s"]) { _, new in new }).replica?.heartbeat, .seconds(60))
    }

    func testReplicaURLIsRefusedWithSQLite() {
        for database in [nil, "sqlite:///var/lib/fjmcp/broker.sqlite"] {
            var env = minimal
            env["FJMCP_DATABASE_URL"] = database
            env["FJMCP_REPLICA_URL"] = "http://10.0.0.5:8080"
            XCTAssertEqual(problems(env), ["FJMCP_REPLICA_URL needs a PostgreSQL FJMCP_DATABASE_URL: replicas share one database, and SQLite serves a single broker"],
                           database ?? "default database")
        }
    }

    func testMalformedReplicaURLsAreRefusedByName() {
        for raw in ["10.0.0.5:8080", "ftp://10.0.0.5", "http://", "http://10.0.0.5:8080/mcp", "http://10.0.0.5:8080/?a=b",
                    "http://10.0.0.5:8080/#top", "http://user:pw@10.0.0.5:8080", "http://10.0.0.5:70000", "http://0.0.0.0:8080",
                    "http://[::]:8080"] {
            let found = replicaProblems(["FJMCP_REPLICA_URL": raw])
            XCTAssertEqual(found.count, 1, "\(raw): \(found)")
            XCTAssertTrue(found.first?.hasPrefix("FJMCP_REPLICA_URL=\(raw) is invalid: ") ?? false, "\(raw): \(found)")
        }
    }

    func testReplicaHeartbeatOutOfRangeOrMalformedIsRefused() {
        for (value, problem) in [("99ms", "FJMCP_REPLICA_HEARTBEAT=99ms is out of range 100ms...1m"),
                                 ("61s", "FJMCP_REPLICA_HEARTBEAT=1m1s is out of range 100ms...1m"),
                                 ("0s", "FJMCP_REPLICA_HEARTBEAT=0s is out of range 100ms...1m"),
                                 ("2", "FJMCP_REPLICA_HEARTBEAT=2 is invalid: expected a duration such as 90s, 30m, 24h or 30d")] {
            XCTAssertEqual(replicaProblems(["FJMCP_REPLICA_URL": "http://10.0.0.5:8080", "FJMCP_REPLICA_HEARTBEAT": value]), [problem], value)
        }
    }

    func testReplicaLapseShorterThanTwoBeatsOrMalformedIsRefused() {
        let url = "http://10.0.0.5:8080"
        XCTAssertEqual(replicaProblems(["FJMCP_REPLICA_URL": url, "FJMCP_REPLICA_LAPSE": "5s"]),
                       ["FJMCP_REPLICA_LAPSE=5s is shorter than 3 heartbeats (FJMCP_REPLICA_HEARTBEAT=2s): it must be at least 6s"])
        XCTAssertEqual(replicaProblems(["FJMCP_REPLICA_URL": url, "FJMCP_REPLICA_HEARTBEAT": "1s", "FJMCP_REPLICA_LAPSE": "2500ms"]),
                       ["FJMCP_REPLICA_LAPSE=2s500ms is shorter than 3 heartbeats (FJMCP_REPLICA_HEARTBEAT=1s): it must be at least 3s"])
        XCTAssertEqual(replicaProblems(["FJMCP_REPLICA_URL": url, "FJMCP_REPLICA_LAPSE": "0s"]), ["FJMCP_REPLICA_LAPSE must be greater than zero"])
        XCTAssertEqual(replicaProblems(["FJMCP_REPLICA_URL": url, "FJMCP_REPLICA_LAPSE": "ten"]),
                       ["FJMCP_REPLICA_LAPSE=ten is invalid: expected a duration such as 90s, 30m, 24h or 30d"])
        XCTAssertEqual(replicaProblems(["FJMCP_REPLICA_URL": url, "FJMCP_REPLICA_HEARTBEAT": "90s", "FJMCP_REPLICA_LAPSE": "10m"]),
                       ["FJMCP_REPLICA_HEARTBEAT=1m30s is out of range 100ms...1m"], "a refused heartbeat is reported once, not again for the lapse")
    }

    func testReplicaHeartbeatOrLapseWithoutTheURLIsRefused() {
        XCTAssertEqual(replicaProblems(["FJMCP_REPLICA_HEARTBEAT": "1s", "FJMCP_REPLICA_LAPSE": "5s"]), [
            "FJMCP_REPLICA_HEARTBEAT is set but FJMCP_REPLICA_URL is not; it only applies in replica mode",
            "FJMCP_REPLICA_LAPSE is set but FJMCP_REPLICA_URL is not; it only applies in replica mode",
        ])
    }

    func testReplicaSettingsComeFromFlagsToo() throws {
        let replica = try load(minimal.merging(Self.postgres) { _, new in new },
                               ["--replica-url", "http://10.0.0.6:8080", "--replica-heartbeat=1s", "--replica-lapse", "3s"]).replica
        XCTAssertEqual(replica, ReplicaSettings(address: "http://10.0.0.6:8080", heartbeat: .seconds(1), lapse: .seconds(3)))
    }
}
