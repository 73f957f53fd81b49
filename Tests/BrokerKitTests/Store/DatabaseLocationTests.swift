@testable import BrokerKit
import Foundation
import XCTest

/// `FJMCP_DATABASE_URL`: every form the operator documentation names, every refusal, and that
/// no error or `check-config` line ever repeats a password.
final class DatabaseLocationTests: XCTestCase {
    private func postgres(_ raw: String, password: String? = nil) throws -> PostgresLocation {
        guard case .postgres(let location) = try DatabaseLocation.parse(raw, password: password).get() else {
            throw XCTSkip("not reached: \(raw) parsed as SQLite")
        }
        return location
    }

    private func failure(_ raw: String, password: String? = nil) -> String {
        switch DatabaseLocation.parse(raw, password: password) {
        case .success(let location): "parsed as \(location.redacted)"
        case .failure(let reason): reason.description
        }
    }

    func testSQLiteURL() throws {
        XCTAssertEqual(try DatabaseLocation.parse("sqlite:///var/lib/fjmcp/broker.sqlite", password: nil).get(),
                       .sqlite(path: "/var/lib/fjmcp/broker.sqlite"))
        XCTAssertEqual(failure("sqlite://"), "sqlite:// needs a file path")
    }

    func testTCPURLWithDefaultsAndOptions() throws {
        let plain = try postgres("postgres://fjmcp@db.internal/broker")
        XCTAssertEqual(plain.endpoint, .tcp(host: "db.internal", port: 5432))
        XCTAssertEqual(plain.user, "fjmcp")
        XCTAssertNil(plain.password)
        XCTAssertEqual(plain.database, "broker")
        XCTAssertEqual(plain.tls, .prefer)

        let full = try postgres("postgresql://fjmcp:p%40ss@[::1]:6543/broker?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem")
        XCTAssertEqual(full.endpoint, .tcp(host: "::1", port: 6543))
        XCTAssertEqual(full.password, "p@ss")
        XCTAssertEqual(full.tls, .verifyFull)
        XCTAssertEqual(full.rootCertificatePath, "/etc/ssl/db-ca.pem")
        XCTAssertEqual(full.redacted, "postgres://fjmcp@[::1]:6543/broker?sslmode=verify-full")

        XCTAssertEqual(try postgres("postgres://fjmcp@db/broker?sslmode=disable").tls, .disable)
        XCTAssertEqual(try postgres("postgres://fjmcp@db/broker?sslmode=require").tls, .require)
        XCTAssertEqual(try postgres("postgres://fjmcp@db").database, "fjmcp", "libpq's default: the user's name")
    }

    func testUnixSocketForms() throws {
        let query = try postgres("postgres://fjmcp@/broker?host=/run/postgresql")
        XCTAssertEqual(query.endpoint, .unixSocket(path: "/run/postgresql/.s.PGSQL.5432"))
        XCTAssertEqual(query.tls, .disable)
        let encoded = try postgres("postgres://fjmcp@%2Frun%2Fpostgresql:5433/broker")
        XCTAssertEqual(encoded.endpoint, .unixSocket(path: "/run/postgresql/.s.PGSQL.5433"))
        XCTAssertEqual(failure("postgres://fjmcp@/broker?host=/run/postgresql&sslmode=verify-full"),
                       "sslmode=verify-full cannot be used over a Unix socket")
    }

    func testPasswordComesFromTheURLOrTheSetting() throws {
        XCTAssertEqual(try postgres("postgres://fjmcp@db/broker", password: "from-file").password, "from-file")
        XCTAssertEqual(failure("postgres://fjmcp:inline@db/broker", password: "from-file"),
                       "a password in the URL and FJMCP_DATABASE_PASSWORD are both set; use one")
    }

    func testBadURLsAreRefusedWithoutRepeatingThem() {
        let cases: [(String, String)] = [
            ("mysql://fjmcp@db/broker", "expected sqlite://PATH"),
            ("postgres://db/broker", "the URL needs a user"),
            ("postgres://fjmcp@/broker", "the URL needs a host"),
            ("postgres://fjmcp:secret@db/broker?sslmode=allow", "sslmode=allow is not supported"),
            ("postgres://fjmcp:secret@db/broker?sslrootcert=/ca.pem", "sslrootcert needs sslmode=verify-full"),
            ("postgres://fjmcp:secret@db/broker?application_name=x", "unknown option 'application_name'"),
            ("postgres://fjmcp:secret@db/broker?sslmode=", "option 'sslmode' needs a value"),
            ("postgres://fjmcp:secret@db/a/b", "the database name cannot contain '/'"),
            ("postgres://fjmcp:secret@db:0/broker", "port 0 is out of range"),
        ]
        for (raw, expected) in cases {
            let reason = failure(raw)
            XCTAssertTrue(reason.hasPrefix(expected), "\(raw): \(reason)")
            XCTAssertFalse(reason.contains("secret"), "\(raw): \(reason)")
        }
    }

    func testConfigurationNamesTheSettingAndCheckConfigHidesThePassword() throws {
        let environment = ["FJMCP_PUBLIC_URL": "http://127.0.0.1:8080", "FORGEJO_URL": "http://127.0.0.1:3000",
                           "FORGEJO_CLIENT_ID": "id", "FORGEJO_CLIENT_SECRET": "secret"]
        var bad = environment
        bad["FJMCP_DATABASE_URL"] = "postgres://fjmcp:hunter2@db/broker?sslmode=bogus"
        do {
            _ = try BrokerConfig.load(from: ConfigSource(environment: bad))
            XCTFail("an unsupported sslmode must be refused")
        } catch {
            XCTAssertEqual(error.problems, ["FJMCP_DATABASE_URL is invalid: sslmode=bogus is not supported (expected disable, prefer, require or verify-full)"])
        }

        let directory = try TemporaryDirectory()
        let passwordFile = directory.path + "/db-password"
        try Data("from-file\n".utf8).write(to: URL(fileURLWithPath: passwordFile))
        var good = environment
        good["FJMCP_DATABASE_URL"] = "postgres://fjmcp@db/broker"
        good["FJMCP_DATABASE_PASSWORD_FILE"] = passwordFile
        let source = ConfigSource(environment: good)
        let config = try BrokerConfig.load(from: source)
        guard case .postgres(let location) = config.database else { return XCTFail("\(config.database)") }
        XCTAssertEqual(location.password, "from-file")
        let shown = BrokerConfig.describe(source)
        XCTAssertTrue(shown.contains("FJMCP_DATABASE_URL=postgres://fjmcp@db:5432/broker?sslmode=prefer"), "\(shown)")
        XCTAssertTrue(shown.contains("FJMCP_DATABASE_PASSWORD=<redacted>"), "\(shown)")

        var inline = environment
        inline["FJMCP_DATABASE_URL"] = "postgres://fjmcp:hunter2@db/broker"
        XCTAssertFalse(BrokerConfig.describe(ConfigSource(environment: inline)).joined().contains("hunter2"))
    }
}
