import Foundation
import XCTest

/// Two clients of one user share the user child: a server→client request from one client's
/// tool never reaches the other client's call, even when that other call is the only one able
/// to take input. It is refused to the child when the broker cannot tell whose it is.
final class ModernAttributionTests: XCTestCase {
    private static func meta(_ capabilities: [String: Any]) -> [String: Any] {
        ModernEraTests.meta(extra: ["io.modelcontextprotocol/clientCapabilities": capabilities])
    }

    private static func sleepTakingInput(_ client: MCPTestClient, ms: Int) async throws -> MCPReply {
        try await client.modern(id: "wait", method: "tools/call", params: ["name": "sleep", "arguments": ["ms": ms]],
                                meta: meta(["elicitation": [String: Any]()]))
    }

    func testAnotherClientsInputCapableCallNeverReceivesThisClientsRequest() async throws {
        let broker = try await MCPTestBroker.start()
        addTeardownBlock { await broker.stop() }
        let first = try await broker.client()
        let second = try await broker.client()
        XCTAssertNotEqual(first.accessToken, second.accessToken)
        // The first client's call can take input (it declared elicitation) and is still running.
        let waiter = first
        let waiting = Task { try await ModernAttributionTests.sleepTakingInput(waiter, ms: 1500) }
        let running = await eventually { await broker.host.pendingRequests(userID: 101) == 1 }
        XCTAssertTrue(running)
        // The second client's tool asks for elicitation; it declared nothing.
        let asked = try await second.modern(id: "ask", method: "tools/call", params: ["name": "ask", "arguments": ["kind": "elicitation"]])
        XCTAssertEqual(asked.result?["isError"] as? Bool, true, asked.body)
        XCTAssertTrue(asked.body.contains("cannot tell which client"), "refused to the child: \(asked.body)")

        let slept = try await waiting.value
        XCTAssertEqual(slept.structured?["ms"] as? Int, 1500, "the first client got its own answer, not an input_required: \(slept.body)")
        XCTAssertNil(slept.result?["inputRequests"], slept.body)
    }

    func testTheOnlyClientWithCallsPendingStillGetsItsRequest() async throws {
        let broker = try await MCPTestBroker.start()
        addTeardownBlock { await broker.stop() }
        let other = try await broker.client()
        let client = try await broker.client()
        // Another client of the user used the child before; nothing of it is pending now.
        let before = try await other.modern(id: 1, method: "tools/call", params: ["name": "whoami", "arguments": [:]])
        XCTAssertEqual(before.status, 200, before.body)
        let asked = try await client.modern(id: "ask", method: "tools/call", params: ["name": "ask", "arguments": ["kind": "elicitation"]],
                                            meta: Self.meta(["elicitation": [String: Any]()]))
        XCTAssertEqual(asked.result?["resultType"] as? String, "input_required", asked.body)
    }
}
