import AsyncHTTPClient
import BrokerKit
import FakeForgejo
import Foundation
import XCTest

/// The served binary as an operator runs it: children must not outlive the broker, whether it
/// is stopped (SIGTERM) or killed (SIGKILL, where only the parent-death signal helps).
final class MCPServeBinaryTests: XCTestCase {
    private var broker: ServedBroker!

    override func tearDown() async throws {
        await broker?.shutdown()
    }

    /// Starts `fjmcp-broker serve`, logs alice in and opens a session; returns the child's pid.
    private func startBrokerWithSession() async throws -> (ProductProcess, Int32) {
        broker = try await ServedBroker.start()
        var (client, _) = try await broker.client()
        let initialized = try await client.initialize()
        XCTAssertEqual(initialized.status, 200, initialized.body)
        let whoami = try await client.tool(id: 1, "whoami")
        XCTAssertEqual(whoami.structured?["login"] as? String, "alice")
        let pid = try XCTUnwrap((whoami.structured?["pid"] as? Int).map(Int32.init), whoami.body)
        XCTAssertTrue(processExists(pid))
        return (try XCTUnwrap(broker.process), pid)
    }

    func testSIGKILLedBrokerLeavesNoChild() async throws {
        let (broker, childPID) = try await startBrokerWithSession()
        broker.signal(SIGKILL)
        _ = await broker.waitForExit(timeout: .seconds(5))
        let gone = await eventually(timeout: .seconds(5)) { !processExists(childPID) }
        XCTAssertTrue(gone, "child \(childPID) outlived a SIGKILLed broker")
    }

    func testSIGTERMStopsEveryChildBeforeExit() async throws {
        let (broker, childPID) = try await startBrokerWithSession()
        broker.signal(SIGTERM)
        let status = await broker.waitForExit(timeout: .seconds(10))
        XCTAssertEqual(status, 0, broker.stderr)
        XCTAssertFalse(processExists(childPID), "child \(childPID) outlived the broker")
        XCTAssertTrue(broker.stderr.contains("session ended"), broker.stderr)
        XCTAssertTrue(broker.stderr.contains("broker_shutdown"), broker.stderr)
    }

    func testAdminSessionsListsTheRunningSessionOverA0600Socket() async throws {
        let (broker, childPID) = try await startBrokerWithSession()
        let listing = try await admin(["sessions"])
        XCTAssertTrue(listing.contains("alice"), listing)
        XCTAssertTrue(listing.contains("\(childPID)"), listing)
        let attributes = try FileManager.default.attributesOfItem(atPath: self.broker.directory + "/admin.sock")
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        broker.signal(SIGTERM)
        _ = await broker.waitForExit(timeout: .seconds(10))
    }

    func testAdminRevokeEndsTheUsersSessionsAndUserChildInTheRunningBroker() async throws {
        let (broker, childPID) = try await startBrokerWithSession()
        // The same user's 2026-07-28 client runs on their user child.
        let (modern, _) = try await self.broker.client()
        let whoami = try await modern.modern(id: 1, method: "tools/call", params: ["name": "whoami", "arguments": [:]])
        let userChildPID = try XCTUnwrap((whoami.structured?["pid"] as? Int).map(Int32.init), whoami.body)
        XCTAssertNotEqual(userChildPID, childPID)
        let listing = try await admin(["sessions"])
        let rows = listing.split(separator: "\n").map(String.init)
        XCTAssertTrue(rows.contains { $0.hasPrefix("session") && $0.contains("alice") && $0.contains("\(childPID)") }, listing)
        XCTAssertTrue(rows.contains { $0.hasPrefix("user") && $0.contains("alice") && $0.contains("\(userChildPID)") }, listing)

        let answer = try await admin(["revoke", "--user", "alice"])
        XCTAssertTrue(answer.contains("1 session(s) and 1 user child(ren) ended"), answer)
        let gone = await eventually { !processExists(childPID) && !processExists(userChildPID) }
        XCTAssertTrue(gone, "a child (\(childPID), \(userChildPID)) outlived the revocation")
        let after = try await modern.modern(id: 2, method: "tools/list")
        XCTAssertEqual(after.status, 401, after.body)
        let emptied = try await admin(["sessions"])
        XCTAssertFalse(emptied.contains("alice"), emptied)
        let unknown = try await self.broker.admin(["revoke", "--user", "nobody"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("404"), unknown.stderr)
        broker.signal(SIGTERM)
        _ = await broker.waitForExit(timeout: .seconds(10))
    }

    /// Runs an admin command against the running broker; returns its output.
    private func admin(_ arguments: [String]) async throws -> String {
        let command = try await broker.admin(arguments)
        XCTAssertEqual(command.status, 0, command.stderr)
        return command.stdout
    }
}
