import AsyncHTTPClient
import BrokerKit
import FakeForgejo
import Foundation
import XCTest

/// The served binary as an operator runs it: children must not outlive the broker, whether it
/// is stopped (SIGTERM) or killed (SIGKILL, where only the parent-death signal helps).
final class MCPServeBinaryTests: XCTestCase {
    private var forgejo: FakeForgejoServer!
    private var httpClient: HTTPClient!
    private var directory = ""
    /// The running broker's public URL, which the admin commands' configuration needs too.
    private var baseURL = ""

    override func setUp() async throws {
        forgejo = try await FakeForgejoServer.start(options: FakeForgejoOptions(autoApproveUser: "alice", users: OAuthTestBroker.users))
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        directory = NSTemporaryDirectory() + "fjmcp-mcp-serve-" + UUID().uuidString
    }

    override func tearDown() async throws {
        try? await httpClient.shutdown()
        await forgejo.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts `fjmcp-broker serve`, logs alice in and opens a session; returns the child's pid.
    private func startBrokerWithSession() async throws -> (ProductProcess, Int32) {
        let port = try FreePort.pick()
        baseURL = "http://127.0.0.1:\(port)"
        try await forgejo.state.registerApp(FakeAppSeed(name: "broker", redirectURIs: [baseURL + "/oauth/callback"],
                                                        clientID: OAuthTestBroker.forgejoClientID,
                                                        clientSecret: OAuthTestBroker.forgejoClientSecret))
        let broker = try ProductProcess("fjmcp-broker", arguments: ["serve"], environment: [
            "FJMCP_PUBLIC_URL": baseURL, "FJMCP_LISTEN": "127.0.0.1:\(port)", "FJMCP_DATA_DIR": directory,
            "FORGEJO_URL": forgejo.baseURL, "FORGEJO_CLIENT_ID": OAuthTestBroker.forgejoClientID,
            "FORGEJO_CLIENT_SECRET": OAuthTestBroker.forgejoClientSecret, "FJMCP_CHILD_COMMAND": MCPDemo.path,
            "FJMCP_CHILD_STOP_GRACE": "300ms",
        ])
        _ = try await broker.waitFor("the listening line") { ServeBinaryTests.listeningPort(in: $0.stderr) }
        let token = try await MCPLogin.accessToken(baseURL: baseURL, resource: baseURL + "/mcp", httpClient: httpClient)
        var client = MCPTestClient(baseURL: baseURL, accessToken: token, httpClient: httpClient)
        let initialized = try await client.initialize()
        XCTAssertEqual(initialized.status, 200, initialized.body)
        let whoami = try await client.tool(id: 1, "whoami")
        XCTAssertEqual(whoami.structured?["login"] as? String, "alice")
        let pid = try XCTUnwrap((whoami.structured?["pid"] as? Int).map(Int32.init), whoami.body)
        XCTAssertTrue(processExists(pid))
        return (broker, pid)
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
        let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/admin.sock")
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        broker.signal(SIGTERM)
        _ = await broker.waitForExit(timeout: .seconds(10))
    }

    func testAdminRevokeEndsTheUsersSessionsAndUserChildInTheRunningBroker() async throws {
        let (broker, childPID) = try await startBrokerWithSession()
        // The same user's 2026-07-28 client runs on their user child.
        let token = try await MCPLogin.accessToken(baseURL: baseURL, resource: baseURL + "/mcp", httpClient: httpClient)
        let modern = MCPTestClient(baseURL: baseURL, accessToken: token, httpClient: httpClient)
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
        let unknown = try ProductProcess("fjmcp-broker", arguments: ["revoke", "--user", "nobody"], environment: adminEnvironment)
        let status = await unknown.waitForExit(timeout: .seconds(20))
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(unknown.stderr.contains("404"), unknown.stderr)
        broker.signal(SIGTERM)
        _ = await broker.waitForExit(timeout: .seconds(10))
    }

    private var adminEnvironment: [String: String] { ["FJMCP_PUBLIC_URL": baseURL, "FJMCP_DATA_DIR": directory] }

    /// Runs an admin command against the running broker; returns its output.
    private func admin(_ arguments: [String]) async throws -> String {
        let command = try ProductProcess("fjmcp-broker", arguments: arguments, environment: adminEnvironment)
        let status = await command.waitForExit(timeout: .seconds(20))
        XCTAssertEqual(status, 0, command.stderr)
        return command.stdout
    }
}
