import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

/// The foundation's "done when" checks, against the real `fjmcp-broker` binary.
final class ServeBinaryTests: XCTestCase {
    func baseEnvironment(dataDir: String) -> [String: String] {
        [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:8080",
            "FJMCP_LISTEN": "127.0.0.1:0",
            "FJMCP_DATA_DIR": dataDir,
            "FORGEJO_URL": "http://127.0.0.1:1",
            "FORGEJO_CLIENT_ID": "id",
            "FORGEJO_CLIENT_SECRET": "secret",
        ]
    }

    func testServeAnswersHealthzCreatesPrivateDatabaseAndStopsOnSIGTERM() async throws {
        let dir = NSTemporaryDirectory() + "fjmcp-serve-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broker = try ProductProcess("fjmcp-broker", arguments: ["serve"], environment: baseEnvironment(dataDir: dir + "/data"))
        let port = try await broker.waitFor("the listening line") { process in
            Self.listeningPort(in: process.stderr)
        }
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/healthz")!)
        XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 200)
        XCTAssertEqual(String(decoding: data, as: UTF8.self), #"{"status":"ok"}"#)

        var info = stat()
        XCTAssertEqual(stat(dir + "/data/broker.sqlite", &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        XCTAssertEqual(stat(dir + "/data/secret.key", &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        XCTAssertTrue(broker.stderr.contains("generated a new secret key"))
        XCTAssertTrue(broker.stderr.contains(#"executor="event loops""#), "jobs run on the event loops (ConcurrencyOnEventLoops)")

        let stopAsked = ContinuousClock.now
        broker.signal(SIGTERM)
        let status = await broker.waitForExit(timeout: .seconds(5))
        XCTAssertEqual(status, 0, "exit within 5 s of SIGTERM with status 0; stderr:\n\(broker.stderr)")
        XCTAssertLessThan(ContinuousClock.now - stopAsked, .seconds(5))
        XCTAssertFalse(broker.stderr.contains("secret\n"))
    }

    func testBadConfigurationPrintsEveryProblemAndExits2() async throws {
        var env = baseEnvironment(dataDir: NSTemporaryDirectory() + "unused")
        env["FORGEJO_URL"] = nil
        env["FJMCP_SESSION_IDLE_TIMEOUT"] = "ten minutes"
        let broker = try ProductProcess("fjmcp-broker", arguments: ["serve"], environment: env)
        let status = await broker.waitForExit(timeout: .seconds(10))
        XCTAssertEqual(status, 2)
        let lines = broker.stderr.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("configuration error: FORGEJO_URL is required"), broker.stderr)
        XCTAssertTrue(lines.contains { $0.hasPrefix("configuration error: FJMCP_SESSION_IDLE_TIMEOUT=ten minutes is invalid") }, broker.stderr)
    }

    func testPortInUseAndUnusableDataDirectoryAreClearErrors() async throws {
        let dir = NSTemporaryDirectory() + "fjmcp-serve-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try ProductProcess("fjmcp-broker", arguments: ["serve"], environment: baseEnvironment(dataDir: dir + "/a"))
        let port = try await first.waitFor("the listening line") { process in
            Self.listeningPort(in: process.stderr)
        }
        var env = baseEnvironment(dataDir: dir + "/b")
        env["FJMCP_LISTEN"] = "127.0.0.1:\(port)"
        let second = try ProductProcess("fjmcp-broker", arguments: ["serve"], environment: env)
        let status = await second.waitForExit(timeout: .seconds(10))
        XCTAssertEqual(status, 1)
        XCTAssertTrue(second.stderr.contains("cannot listen on 127.0.0.1:\(port): address already in use"), second.stderr)
        first.signal(SIGTERM)
        _ = await first.waitForExit(timeout: .seconds(5))

        FileManager.default.createFile(atPath: dir + "/file", contents: Data())
        let third = try ProductProcess("fjmcp-broker", arguments: ["serve"], environment: baseEnvironment(dataDir: dir + "/file"))
        let thirdStatus = await third.waitForExit(timeout: .seconds(10))
        XCTAssertEqual(thirdStatus, 1)
        XCTAssertTrue(third.stderr.contains("cannot use data directory \(dir)/file: not a directory"), third.stderr)
    }

    func testCheckConfigRedactsSecrets() async throws {
        let env = baseEnvironment(dataDir: NSTemporaryDirectory() + "unused")
        let check = try ProductProcess("fjmcp-broker", arguments: ["check-config", "--log-format", "json"], environment: env)
        let status = await check.waitForExit(timeout: .seconds(10))
        XCTAssertEqual(status, 0, check.stderr)
        XCTAssertTrue(check.stdout.contains("FORGEJO_CLIENT_SECRET=<redacted>"))
        XCTAssertTrue(check.stdout.contains("FJMCP_LOG_FORMAT=json"))
        XCTAssertFalse(check.stdout.contains("=secret"))
        XCTAssertTrue(check.stdout.contains("configuration ok"))
    }

    /// The port from the broker's own "listening" log line (the framework logs one too, without `port=`).
    static func listeningPort(in log: String) -> Int? {
        log.split(separator: "\n").first { $0.contains(" listening address=") }
            .flatMap { $0.split(separator: " ").first { $0.hasPrefix("port=") } }
            .flatMap { Int($0.dropFirst("port=".count)) }
    }
}
