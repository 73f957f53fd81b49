import AsyncHTTPClient
import BrokerKit
import Foundation
import XCTest

/// User children and legacy sessions share the host's caps in both directions: a legacy session's
/// child sees the user child, a user child's start sees sessions, and a reaped user child gives
/// its slot back. A session's `initialize` may be answered without a child (its answer is known),
/// so the cap is met at its first request.
final class ModernCapsTests: XCTestCase {
    func testModernPooledChildCountsForALegacyOpenOfTheSameUser() async throws {
        let broker = try await MCPTestBroker.start(environment: ["FJMCP_MAX_SESSIONS_PER_USER": "1"])
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        let modern = try await client.modern(method: "tools/list")
        XCTAssertEqual(modern.status, 200, modern.body)
        _ = try await client.initialize()
        let refused = try await client.call(id: 1, method: "tools/list")
        XCTAssertEqual(refused.status, 503, "the user child already takes the user's one slot: \(refused.body)")
        XCTAssertEqual(refused.errorCode, -32603)
        let children = await broker.host.userChildCount
        XCTAssertEqual(children, 1, "the legacy open ended nothing")
        let again = try await client.modern(id: 2, method: "tools/list")
        XCTAssertEqual(again.status, 200, "the user's existing child keeps serving: \(again.body)")
    }

    func testModernPooledChildCountsForTheTotalCap() async throws {
        let broker = try await MCPTestBroker.start(environment: ["FJMCP_MAX_SESSIONS": "1", "FJMCP_MAX_SESSIONS_PER_USER": "1"])
        defer { Task { await broker.stop() } }
        let alice = try await broker.client()
        var bob = try await broker.client(login: "bob")
        let modern = try await alice.modern(method: "tools/list")
        XCTAssertEqual(modern.status, 200, modern.body)
        _ = try await bob.initialize()
        let refused = try await bob.call(id: 1, method: "tools/list")
        XCTAssertEqual(refused.status, 503, refused.body)
        let bobModern = try await bob.modern(id: 3, method: "tools/list")
        XCTAssertEqual(bobModern.status, 503, "a second user's pooled child does not fit either: \(bobModern.body)")
        XCTAssertEqual(bobModern.errorCode, -32603)
        XCTAssertEqual(bobModern.final["id"] as? Int, 3)
    }

    func testModernReapedPooledChildGivesItsSlotBack() async throws {
        let broker = try await MCPTestBroker.start(environment: [
            "FJMCP_MAX_SESSIONS_PER_USER": "1", "FJMCP_SESSION_IDLE_TIMEOUT": "300ms",
        ])
        defer { Task { await broker.stop() } }
        let client = try await broker.client()
        let modern = try await client.modern(method: "tools/list")
        XCTAssertEqual(modern.status, 200, modern.body)
        let reaped = await eventually { await broker.host.userChildCount == 0 }
        XCTAssertTrue(reaped)
        let opened = await eventually {
            var attempt = client
            guard let reply = try? await attempt.initialize() else { return false }
            return reply.status == 200
        }
        XCTAssertTrue(opened, "the legacy open fits once the pooled child is gone")
    }
}
