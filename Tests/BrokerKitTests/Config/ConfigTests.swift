import BrokerKit
import Foundation
import XCTest

final class ConfigTests: XCTestCase {
    let minimal = [
        "FJMCP_PUBLIC_URL": "https://mcp.example.org",
        "FORGEJO_URL": "https://forgejo.example.org/",
        "FORGEJO_CLIENT_ID": "id",
        "FORGEJO_CLIENT_SECRET": "secret",
    ]

    func load(_ env: [String: String], _ args: [String] = []) throws(ConfigError) -> BrokerConfig {
        try BrokerConfig.load(from: ConfigSource(environment: env, arguments: args))
    }

    func problems(_ env: [String: String], _ args: [String] = []) -> [String] {
        do {
            _ = try load(env, args)
            return []
        } catch {
            return error.problems
        }
    }

    func testMinimalConfigurationUsesDefaults() throws {
        let config = try load(minimal)
        XCTAssertEqual(config.issuer, "https://mcp.example.org")
        XCTAssertEqual(config.mcpResource, "https://mcp.example.org/mcp")
        XCTAssertEqual(config.listen, ListenAddress(host: "127.0.0.1", port: 8080))
        XCTAssertEqual(config.databasePath, "./data/broker.sqlite")
        XCTAssertEqual(config.forgejo.baseURL, "https://forgejo.example.org")
        XCTAssertEqual(config.child.command, "forgejo-mcp --transport stdio")
        XCTAssertEqual(config.child.tokenEnv, "FORGEJO_ACCESS_TOKEN")
        XCTAssertEqual(config.sessions.idleTimeout, .seconds(1_800))
        XCTAssertEqual(config.sessions.maxLifetime, .seconds(86_400))
        XCTAssertEqual(config.sessions.maxPerUser, 8)
        XCTAssertEqual(config.sessions.maxTotal, 256)
        XCTAssertEqual(config.tokens.accessToken, .seconds(3_600))
        XCTAssertEqual(config.tokens.refreshToken, .seconds(30 * 86_400))
        XCTAssertEqual(config.tokens.refreshGrace, .seconds(60))
        XCTAssertEqual(config.logLevel, .info)
        XCTAssertEqual(config.logFormat, .text)
        XCTAssertNil(config.secretKey)
        XCTAssertEqual(config.trustedProxies, IPRange.loopback)
    }

    func testEveryVariableIsRead() throws {
        var env = minimal
        env["FJMCP_LISTEN"] = "0.0.0.0:9000"
        env["FJMCP_DATA_DIR"] = "/var/lib/fjmcp"
        env["FJMCP_DATABASE_URL"] = "sqlite:///tmp/x.sqlite"
        env["FJMCP_SECRET_KEY"] = String(repeating: "ab", count: 32)
        env["FORGEJO_SCOPES"] = "read:user read:repository"
        env["FJMCP_CHILD_COMMAND"] = "/usr/bin/gitea-mcp"
        env["FJMCP_CHILD_TOKEN_ENV"] = "GITEA_TOKEN"
        env["FJMCP_CHILD_URL_ENV"] = "GITEA_URL"
        env["FJMCP_CHILD_ENV"] = "FASTMCP_CHECK_FOR_UPDATES=off, HOME"
        env["FJMCP_CHILD_STOP_GRACE"] = "500ms"
        env["FJMCP_SESSION_IDLE_TIMEOUT"] = "90s"
        env["FJMCP_SESSION_MAX_LIFETIME"] = "1h30m"
        env["FJMCP_MAX_SESSIONS_PER_USER"] = "2"
        env["FJMCP_MAX_SESSIONS"] = "10"
        env["FJMCP_ACCESS_TOKEN_TTL"] = "15m"
        env["FJMCP_REFRESH_TOKEN_TTL"] = "7d"
        env["FJMCP_REFRESH_GRACE"] = "5s"
        env["FJMCP_TRUSTED_PROXIES"] = "10.0.0.0/8, ::1"
        env["FJMCP_MAX_BODY_SIZE"] = "4096"
        env["FJMCP_SHUTDOWN_TIMEOUT"] = "3s"
        env["FJMCP_LOG_LEVEL"] = "debug"
        env["FJMCP_LOG_FORMAT"] = "json"
        let config = try load(env)
        XCTAssertEqual(config.listen.port, 9000)
        XCTAssertEqual(config.dataDirectory, "/var/lib/fjmcp")
        XCTAssertEqual(config.databasePath, "/tmp/x.sqlite")
        XCTAssertEqual(config.secretKey, [UInt8](repeating: 0xAB, count: 32))
        XCTAssertEqual(config.forgejo.scopes, "read:user read:repository")
        XCTAssertEqual(config.child.command, "/usr/bin/gitea-mcp")
        XCTAssertEqual(config.child.tokenEnv, "GITEA_TOKEN")
        XCTAssertEqual(config.child.urlEnv, "GITEA_URL")
        XCTAssertEqual(config.child.extraEnv, ["FASTMCP_CHECK_FOR_UPDATES=off", "HOME"])
        XCTAssertEqual(config.child.stopGrace, .milliseconds(500))
        XCTAssertEqual(config.sessions.idleTimeout, .seconds(90))
        XCTAssertEqual(config.sessions.maxLifetime, .seconds(5_400))
        XCTAssertEqual(config.sessions.maxPerUser, 2)
        XCTAssertEqual(config.sessions.maxTotal, 10)
        XCTAssertEqual(config.tokens.accessToken, .seconds(900))
        XCTAssertEqual(config.tokens.refreshToken, .seconds(7 * 86_400))
        XCTAssertEqual(config.tokens.refreshGrace, .seconds(5))
        XCTAssertEqual(config.trustedProxies.count, 2)
        XCTAssertEqual(config.maxBodySize, 4096)
        XCTAssertEqual(config.shutdownTimeout, .seconds(3))
        XCTAssertEqual(config.logLevel, .debug)
        XCTAssertEqual(config.logFormat, .json)
    }

    func testFlagsOverrideEnvironment() throws {
        let config = try load(minimal, ["--listen", "127.0.0.1:0", "--log-level=warning", "--forgejo-url", "http://localhost:3000"])
        XCTAssertEqual(config.listen.port, 0)
        XCTAssertEqual(config.logLevel, .warning)
        XCTAssertEqual(config.forgejo.baseURL, "http://localhost:3000")
    }

    func testAllProblemsAreReportedTogether() {
        var env = minimal
        env["FORGEJO_URL"] = nil
        env["FJMCP_SESSION_IDLE_TIMEOUT"] = "soon"
        let found = problems(env)
        XCTAssertEqual(found.count, 2, "\(found)")
        XCTAssertTrue(found.contains("FORGEJO_URL is required"))
        XCTAssertTrue(found.contains { $0.hasPrefix("FJMCP_SESSION_IDLE_TIMEOUT=soon is invalid") })
    }

    func testMalformedValues() {
        let cases: [(String, String, String)] = [
            ("FJMCP_LISTEN", "8080", "FJMCP_LISTEN=8080 is invalid"),
            ("FJMCP_LISTEN", "host:99999", "FJMCP_LISTEN=host:99999 is invalid"),
            ("FJMCP_SESSION_MAX_LIFETIME", "30", "FJMCP_SESSION_MAX_LIFETIME=30 is invalid"),
            ("FJMCP_ACCESS_TOKEN_TTL", "0s", "FJMCP_ACCESS_TOKEN_TTL must be greater than zero"),
            ("FJMCP_MAX_SESSIONS", "many", "FJMCP_MAX_SESSIONS=many is invalid"),
            ("FJMCP_MAX_SESSIONS_PER_USER", "0", "FJMCP_MAX_SESSIONS_PER_USER=0 is out of range"),
            ("FJMCP_LOG_LEVEL", "loud", "FJMCP_LOG_LEVEL=loud is invalid"),
            ("FJMCP_LOG_FORMAT", "xml", "FJMCP_LOG_FORMAT=xml is invalid"),
            ("FJMCP_SECRET_KEY", "short", "FJMCP_SECRET_KEY is invalid"),
            ("FJMCP_DATABASE_URL", "mysql://db/broker", "FJMCP_DATABASE_URL is invalid: expected sqlite://PATH"),
            ("FJMCP_TRUSTED_PROXIES", "10.0.0.0/40", "FJMCP_TRUSTED_PROXIES: '10.0.0.0/40' is not an IP address or CIDR range"),
            ("FJMCP_CHILD_TOKEN_ENV", "1BAD", "FJMCP_CHILD_TOKEN_ENV=1BAD is invalid"),
            ("FJMCP_CHILD_ENV", "GOOD=1,bad name", "FJMCP_CHILD_ENV: 'bad name' is not a valid environment variable name"),
            ("FORGEJO_URL", "ftp://forgejo", "FORGEJO_URL=ftp://forgejo is invalid: scheme must be http or https"),
        ]
        for (name, value, expected) in cases {
            var env = minimal
            env[name] = value
            let found = problems(env)
            XCTAssertTrue(found.contains { $0.hasPrefix(expected) }, "\(name)=\(value): \(found)")
        }
    }

    func testPublicURLRules() {
        let bad: [(String, String)] = [
            ("mcp.example.org", "not an absolute URL"),
            ("ftp://mcp.example.org", "scheme must be http or https"),
            ("http://mcp.example.org", "https is required unless the host is loopback"),
            ("https://mcp.example.org/?x=1", "must not have a query or fragment"),
            ("https://mcp.example.org/#frag", "must not have a query or fragment"),
            ("https://mcp.example.org/broker", "must not have a path"),
            ("https://user:pw@mcp.example.org", "must not contain credentials"),
        ]
        for (value, reason) in bad {
            var env = minimal
            env["FJMCP_PUBLIC_URL"] = value
            let found = problems(env)
            XCTAssertTrue(found.contains { $0.contains(reason) }, "\(value): \(found)")
        }
        for good in ["http://127.0.0.1:8080", "http://localhost:8080/", "http://[::1]:9000", "https://MCP.Example.org:443"] {
            var env = minimal
            env["FJMCP_PUBLIC_URL"] = good
            XCTAssertEqual(problems(env), [], good)
        }
        var env = minimal
        env["FJMCP_PUBLIC_URL"] = "https://MCP.Example.org:443/"
        XCTAssertEqual(try load(env).issuer, "https://mcp.example.org")
    }

    func testSecretFilesAndConflicts() throws {
        let dir = try TemporaryDirectory()
        let secretPath = dir.path + "/client-secret"
        try "s3cret\n".write(toFile: secretPath, atomically: true, encoding: .utf8)
        var env = minimal
        env["FORGEJO_CLIENT_SECRET"] = nil
        env["FORGEJO_CLIENT_SECRET_FILE"] = secretPath
        XCTAssertEqual(try load(env).forgejo.clientSecret, "s3cret")

        env["FORGEJO_CLIENT_SECRET"] = "other"
        XCTAssertTrue(problems(env).contains("FORGEJO_CLIENT_SECRET and FORGEJO_CLIENT_SECRET_FILE are both set; use one"))

        env["FORGEJO_CLIENT_SECRET"] = nil
        env["FORGEJO_CLIENT_SECRET_FILE"] = dir.path + "/missing"
        XCTAssertTrue(problems(env).contains { $0.hasPrefix("FORGEJO_CLIENT_SECRET_FILE: cannot read") })

        let keyPath = dir.path + "/key"
        try String(repeating: "cd", count: 32).write(toFile: keyPath, atomically: true, encoding: .utf8)
        chmod(keyPath, 0o644)
        XCTAssertTrue(problems(minimal, ["--secret-key-file", keyPath]).contains { $0.contains("must not be readable by group or others") })
        chmod(keyPath, 0o600)
        XCTAssertEqual(try load(minimal, ["--secret-key-file", keyPath]).secretKey, [UInt8](repeating: 0xCD, count: 32))
    }

    func testSecretValuesAreRefusedOnTheCommandLine() throws {
        var env = minimal
        env["FORGEJO_CLIENT_SECRET"] = nil
        let found = problems(env, ["--forgejo-client-secret", "s3cret", "--listen", "127.0.0.1:9"])
        XCTAssertTrue(found.contains("--forgejo-client-secret would expose a secret in the process list; use --forgejo-client-secret-file or FORGEJO_CLIENT_SECRET"), "\(found)")
        XCTAssertFalse(found.contains { $0.contains("unknown option") }, "the value is consumed, not parsed as a flag: \(found)")
        XCTAssertTrue(problems(minimal, ["--secret-key=\(String(repeating: "ab", count: 32))"]).contains { $0.hasPrefix("--secret-key would expose") })
    }

    func testMetricsAllowList() throws {
        XCTAssertEqual(try load(minimal).metricsAllow, IPRange.loopback)
        var env = minimal
        env["FJMCP_METRICS_ALLOW"] = "any"
        XCTAssertNil(try load(env).metricsAllow)
        env["FJMCP_METRICS_ALLOW"] = "10.0.0.0/8,loopback"
        XCTAssertEqual(try load(env).metricsAllow?.count, 3)
        env["FJMCP_TRUSTED_PROXIES"] = "any"
        XCTAssertTrue(problems(env).contains("FJMCP_TRUSTED_PROXIES: 'any' is not an IP address or CIDR range"))
    }

    func testUnknownFlagIsAProblem() {
        XCTAssertTrue(problems(minimal, ["--no-such-thing", "1"]).contains("unknown option --no-such-thing"))
        XCTAssertTrue(problems(minimal, ["--listen"]).contains("option --listen needs a value"))
    }

    func testDescribeRedactsSecrets() {
        var env = minimal
        env["FJMCP_SECRET_KEY"] = String(repeating: "ab", count: 32)
        let lines = BrokerConfig.describe(ConfigSource(environment: env))
        XCTAssertTrue(lines.contains("FORGEJO_CLIENT_SECRET=<redacted>"))
        XCTAssertTrue(lines.contains("FJMCP_SECRET_KEY=<redacted>"))
        XCTAssertFalse(lines.joined().contains("secret\n"))
        XCTAssertFalse(lines.joined().contains("abab"))
        XCTAssertTrue(lines.contains("FJMCP_LISTEN=127.0.0.1:8080  # default"))
    }

    func testDurations() {
        XCTAssertEqual(Duration(configValue: "90s"), .seconds(90))
        XCTAssertEqual(Duration(configValue: "30m"), .seconds(1_800))
        XCTAssertEqual(Duration(configValue: "24h"), .seconds(86_400))
        XCTAssertEqual(Duration(configValue: "30d"), .seconds(2_592_000))
        XCTAssertEqual(Duration(configValue: "250ms"), .milliseconds(250))
        XCTAssertEqual(Duration(configValue: "1h30m"), .seconds(5_400))
        for bad in ["", "30", "s", "10x", "-5s", "1.5h", "99999999999999s", "999999999999d", "999999999999d999999999999d"] {
            XCTAssertNil(Duration(configValue: bad), bad)
        }
        XCTAssertEqual(Duration.seconds(5_400).configDescription, "1h30m")
    }

    func testIPRanges() throws {
        let range = try XCTUnwrap(IPRange(parsing: "10.1.0.0/16"))
        XCTAssertTrue(range.contains(try XCTUnwrap(IPAddress(parsing: "10.1.200.3"))))
        XCTAssertFalse(range.contains(try XCTUnwrap(IPAddress(parsing: "10.2.0.1"))))
        XCTAssertFalse(range.contains(try XCTUnwrap(IPAddress(parsing: "::1"))))
        let v6 = try XCTUnwrap(IPRange(parsing: "fd00::/8"))
        XCTAssertTrue(v6.contains(try XCTUnwrap(IPAddress(parsing: "fd12::1"))))
        XCTAssertTrue(PublicURL.isLoopbackHost("127.0.0.5"))
        XCTAssertTrue(PublicURL.isLoopbackHost("::1"))
        XCTAssertFalse(PublicURL.isLoopbackHost("10.0.0.1"))
    }
}

/// A directory removed when the test object is released.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "fjmcp-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
