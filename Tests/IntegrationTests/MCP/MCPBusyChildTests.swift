import Foundation
import XCTest

/// A child busy in a long call does not read its stdin (`--serial`). Requests that pile up past
/// the broker's bound on waiting input are answered 503 one by one; the child is never taken
/// for dead, so the long call and every request it did take still get their answers.
final class MCPBusyChildTests: XCTestCase {
    func testLegacyRequestsPastTheInputBoundAreRefusedAndTheChildLives() async throws {
        try await checkBusyChild(.legacy)
    }

    func testModernRequestsOfOtherClientsPastTheInputBoundAreRefusedAndTheSharedChildLives() async throws {
        try await checkBusyChild(.modern)
    }

    private func checkBusyChild(_ era: TestEra) async throws {
        let broker = try await MCPTestBroker.start(childOptions: ["--serial"])
        addTeardownBlock { await broker.stop() }
        let busy = try await era.ready(try await broker.client())
        // A legacy session has its own child; 2026-07-28 clients of one user share the user child.
        let others = era == .legacy ? busy : try await broker.client()
        let sleeping = Task { try await era.tool(busy, id: 1, "sleep", ["ms": 4000]) }
        let started = await eventually { await broker.host.pendingRequests(userID: 101) == 1 }
        XCTAssertTrue(started, "the long call runs")
        // Six ~900 KiB requests: the fifth one's bytes would put more than 4 MiB in front of a
        // child that reads nothing.
        let pad = String(repeating: "x", count: 900 << 10)
        let replies = try await withThrowingTaskGroup(of: MCPReply.self) { group in
            for id in 2...7 { group.addTask { try await era.tool(others, id: id, "whoami", ["pad": pad]) } }
            return try await group.reduce(into: [MCPReply]()) { $0.append($1) }
        }
        let slept = try await sleeping.value
        XCTAssertEqual(slept.structured?["ms"] as? Int, 4000, "the busy child was not killed: \(slept.body.prefix(300))")
        let refused = replies.filter { $0.status == 503 }
        XCTAssertFalse(refused.isEmpty, "some request crossed the bound: \(replies.map(\.status))")
        for reply in refused {
            XCTAssertEqual(reply.errorCode, -32603, reply.body)
            XCTAssertEqual(reply.error?["message"] as? String, "The MCP server is not reading its input; try again")
            XCTAssertEqual(reply.headers["retry-after"].first, "1")
        }
        let answered = replies.filter { $0.status == 200 }
        XCTAssertEqual(answered.count + refused.count, 6, "\(replies.map(\.status))")
        for reply in answered { XCTAssertNotNil(reply.result, "taken requests are answered by the same child: \(reply.body.prefix(300))") }
        let after = try await era.tool(others, id: 8, "whoami")
        XCTAssertEqual(after.status, 200, after.body)
    }
}
