import AsyncHTTPClient
import Foundation
import XCTest

/// `fjmcp-broker serve` on PostgreSQL, as an operator runs it: OAuth and tool calls work, what was
/// issued survives a restart, and `/readyz` follows the database down and back up. Each test runs
/// its own throwaway cluster (scripts/postgres.sh) so it can stop it without disturbing the store
/// suite; it runs wherever FJMCP_TEST_POSTGRES_URL says PostgreSQL is available.
final class PostgresServeBinaryTests: XCTestCase {
    private var broker: ServedBroker?
    private var cluster: Cluster?

    override func tearDown() async throws {
        // A failure once came without its cause: the broker's log says what the store and the
        // readiness monitor saw (it holds no secret; the test checks the password's absence).
        if let run = testRun, run.failureCount + run.unexpectedExceptionCount > 0, let log = broker?.process?.stderr {
            print("fjmcp-broker log of the failed test (last 8000 characters):\n" + String(log.suffix(8000)))
        }
        await broker?.shutdown()
        try await cluster?.run("stop")
    }

    /// One cluster of scripts/postgres.sh.
    private struct Cluster {
        let url: String
        let directory: String
        static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts/postgres.sh").path

        static func start() async throws -> Cluster {
            guard ProcessInfo.processInfo.environment["FJMCP_TEST_POSTGRES_URL"].map({ !$0.isEmpty }) == true else {
                throw XCTSkip("FJMCP_TEST_POSTGRES_URL is unset: PostgreSQL is not available here (scripts/test.sh starts it)")
            }
            let lines = try await Self.invoke(["start"]).split(separator: "\n").map(String.init)
            guard lines.count == 2 else { throw ProductProcess.ProcessFailure(message: "postgres.sh start printed \(lines)") }
            return Cluster(url: lines[0], directory: lines[1])
        }

        /// `stop`, `pause` or `resume` this cluster.
        func run(_ command: String) async throws {
            _ = try await Self.invoke([command, directory])
        }

        private static func invoke(_ arguments: [String]) async throws -> String {
            // A file, not a pipe: the server postgres.sh starts outlives it, and a pipe's end
            // inherited by it would never report end of file.
            let outputPath = NSTemporaryDirectory() + "fjmcp-postgres-sh-" + UUID().uuidString
            guard FileManager.default.createFile(atPath: outputPath, contents: nil), let output = FileHandle(forWritingAtPath: outputPath) else {
                throw ProductProcess.ProcessFailure(message: "cannot create \(outputPath)")
            }
            defer { try? FileManager.default.removeItem(atPath: outputPath) }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: script)
            process.arguments = arguments
            process.standardOutput = output
            try process.run()
            // Polled, as ProductProcess does: waitUntilExit() can miss the exit from a task.
            while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
            try output.close()
            guard process.terminationStatus == 0 else {
                throw ProductProcess.ProcessFailure(message: "postgres.sh \(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
            }
            return try String(contentsOfFile: outputPath, encoding: .utf8)
        }
    }

    private func readiness(_ broker: ServedBroker) async throws -> (status: UInt, body: String) {
        let response = try await broker.httpClient.execute(HTTPClientRequest(url: broker.baseURL + "/readyz"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 16)
        return (response.status.code, String(buffer: body))
    }

    /// Polls `/readyz` until it answers `status` (the monitor caches a result for 2 s).
    private func awaitReadiness(_ broker: ServedBroker, _ status: UInt, within timeout: Duration) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var last = (status: UInt(0), body: "")
        while ContinuousClock.now < deadline {
            last = try await readiness(broker)
            if last.status == status { return last.body }
            try await Task.sleep(for: .milliseconds(250))
        }
        XCTFail("/readyz stayed \(last.status) (\(last.body)) instead of \(status) for \(timeout)")
        return last.body
    }

    func testServesOnPostgresKeepsGrantsAcrossARestartAndRidesOutAnOutage() async throws {
        let cluster = try await Cluster.start()
        self.cluster = cluster
        let password = "not-needed-but-never-logged"
        let passwordFile = NSTemporaryDirectory() + "fjmcp-db-password-" + UUID().uuidString
        try Data(password.utf8).write(to: URL(fileURLWithPath: passwordFile))
        defer { try? FileManager.default.removeItem(atPath: passwordFile) }
        let broker = try await ServedBroker.start(environment: ["FJMCP_DATABASE_URL": cluster.url + "?sslmode=disable",
                                                                "FJMCP_DATABASE_PASSWORD_FILE": passwordFile])
        self.broker = broker
        let log = { broker.process?.stderr ?? "" }
        XCTAssertTrue(log().contains(cluster.url + "?sslmode=disable"), "the store's location is logged: \(log())")
        XCTAssertFalse(FileManager.default.fileExists(atPath: broker.directory + "/broker.sqlite"), "no SQLite file beside PostgreSQL")
        let ready = try await awaitReadiness(broker, 200, within: .seconds(10))
        XCTAssertTrue(ready.contains(#""store":"ok""#), ready)

        var (client, _) = try await broker.client()
        _ = try await client.initialize()
        let first = try await client.tool(id: 1, "whoami")
        XCTAssertEqual(first.status, 200, first.body)
        XCTAssertEqual(first.structured?["login"] as? String, "alice")

        // The token, the grant and the session were issued before the restart: all in PostgreSQL.
        try await broker.restart()
        // The stopped broker flushed its audit trail; `audit` reads it from the same database.
        let audit = try ProductProcess("fjmcp-broker", arguments: ["audit", "--json", "--user", "ALICE"], environment: [
            "FJMCP_PUBLIC_URL": broker.baseURL, "FJMCP_DATA_DIR": broker.directory,
            "FJMCP_DATABASE_URL": cluster.url + "?sslmode=disable", "FJMCP_DATABASE_PASSWORD_FILE": passwordFile,
        ])
        let auditStatus = await audit.waitForExit(timeout: .seconds(20))
        XCTAssertEqual(auditStatus, 0, audit.stderr)
        XCTAssertTrue(audit.stdout.contains(#""event":"tool_call""#), audit.stdout)
        let afterRestart = try await client.tool(id: 2, "whoami")
        XCTAssertEqual(afterRestart.status, 200, afterRestart.body)
        XCTAssertEqual(afterRestart.structured?["login"] as? String, "alice")

        try await cluster.run("pause")
        let down = try await awaitReadiness(broker, 503, within: .seconds(15))
        XCTAssertTrue(down.contains(#""store":"failing""#), down)
        try await cluster.run("resume")
        // Ready again needs the change listener back too, and its reconnect backoff doubles while
        // the database is down (up to 30 s, PostgresChangeFeed): after the up to 15 s the 503 may
        // take on a loaded machine plus the restart, its next attempt can come ~25 s after the
        // database is back (5 s measured after a 23 s outage on an idle one).
        _ = try await awaitReadiness(broker, 200, within: .seconds(45))
        let afterOutage = try await client.tool(id: 3, "whoami")
        XCTAssertEqual(afterOutage.status, 200, afterOutage.body)
        XCTAssertFalse(log().contains(password), "the database password reached the log")
    }

    /// Needs no server: nothing listens on port 1.
    func testAnUnreachableDatabaseIsAStartupErrorNamingItWithoutThePassword() async throws {
        let process = try ProductProcess("fjmcp-broker", arguments: ["serve"], environment: [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:8080", "FJMCP_LISTEN": "127.0.0.1:0",
            "FJMCP_DATA_DIR": NSTemporaryDirectory() + "fjmcp-unused-" + UUID().uuidString,
            "FORGEJO_URL": "http://127.0.0.1:1", "FORGEJO_CLIENT_ID": "id", "FORGEJO_CLIENT_SECRET": "secret",
            "FJMCP_DATABASE_URL": "postgres://fjmcp:hunter2@127.0.0.1:1/broker?sslmode=disable",
        ])
        let expected = "fjmcp-broker: cannot connect to the database postgres://fjmcp@127.0.0.1:1/broker?sslmode=disable"
        // The line, then the exit: the output pipe can still hold the line when the exit is seen.
        _ = try await process.waitFor("the startup error") { $0.stderr.contains(expected) ? true : nil }
        let status = await process.waitForExit(timeout: .seconds(20))
        XCTAssertEqual(status, 1)
        XCTAssertFalse(process.stderr.contains("hunter2"), process.stderr)
    }
}
