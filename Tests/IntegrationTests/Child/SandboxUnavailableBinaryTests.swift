import Foundation
import XCTest

/// `FJMCP_CHILD_SANDBOX` where bubblewrap cannot be used (simulated by pointing
/// `FJMCP_BWRAP_PATH` at a file that does not exist), against the built `fjmcp-broker`: `auto`
/// starts, says so in exactly one warning and runs its children unconfined; `on` refuses to
/// start with an error naming the missing helper.
final class SandboxUnavailableBinaryTests: XCTestCase {
    private static let missingHelper = "/nonexistent-\(UUID().uuidString)/bwrap"

    func testAutoStartsWithOneWarningAndRunsChildrenUnconfined() async throws {
        let broker = try await ServedBroker.start(environment: ["FJMCP_CHILD_SANDBOX": "auto", "FJMCP_BWRAP_PATH": Self.missingHelper])
        addTeardownBlock { await broker.shutdown() }
        let process = try XCTUnwrap(broker.process)
        // Two sessions, so two children start: the probe's verdict is not repeated per child.
        for round in 1...2 {
            var (client, _) = try await broker.client()
            let initialized = try await client.initialize()
            XCTAssertEqual(initialized.status, 200, initialized.body)
            let whoami = try await client.whoami()
            let answer = try XCTUnwrap(whoami, "round \(round): the unconfined child did not answer")
            // Unconfined: the child is the broker's own child process, not one inside bwrap.
            XCTAssertEqual(Self.parentPID(of: answer.pid), process.process.processIdentifier, "round \(round)")
        }
        let warnings = process.stderr.split(separator: "\n").filter { $0.contains(" warning ") }
        XCTAssertEqual(warnings.count, 1, "exactly one warning:\n\(warnings.joined(separator: "\n"))")
        let warning = String(warnings.first ?? "")
        XCTAssertTrue(warning.contains("child sandbox unavailable"), warning)
        XCTAssertTrue(warning.contains("FJMCP_BWRAP_PATH=\(Self.missingHelper)"), warning)
    }

    func testOnRefusesToStartAndNamesTheMissingHelper() async throws {
        let dir = NSTemporaryDirectory() + "fjmcp-sandbox-on-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let environment = [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:8080", "FJMCP_LISTEN": "127.0.0.1:0", "FJMCP_DATA_DIR": dir,
            "FORGEJO_URL": "http://127.0.0.1:1", "FORGEJO_CLIENT_ID": "id", "FORGEJO_CLIENT_SECRET": "secret",
            "FJMCP_CHILD_SANDBOX": "on", "FJMCP_BWRAP_PATH": Self.missingHelper,
        ]
        let broker = try ProductProcess("fjmcp-broker", arguments: ["serve"], environment: environment)
        let status = await broker.waitForExit(timeout: .seconds(10))
        XCTAssertEqual(status, 1, broker.stderr)
        XCTAssertTrue(broker.stderr.contains("FJMCP_CHILD_SANDBOX=on: the child sandbox helper bubblewrap (bwrap) was not found at "
            + "FJMCP_BWRAP_PATH=\(Self.missingHelper)"), broker.stderr)
        XCTAssertNil(ServeBinaryTests.listeningPort(in: broker.stderr), "it must not serve without the sandbox")
    }

    /// The parent pid from `/proc/<pid>/stat` (the field after the parenthesised command name).
    private static func parentPID(of pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }
}
