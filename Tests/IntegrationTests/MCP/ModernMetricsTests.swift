import BrokerKit
import Foundation
import XCTest

/// `/metrics` tells the eras apart: POSTs by era, modern outcomes and rejections by code, MRTR.
final class ModernMetricsTests: XCTestCase {
    func testModernMetricsCountPostsPerEraAndModernOutcomes() async throws {
        let before = MetricsSnapshot.take()
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        let modern = try await client.modern(method: "tools/list")
        XCTAssertEqual(modern.status, 200)
        let mismatch = try await client.modern(method: "tools/list", headers: ["Mcp-Method": "tools/call"])
        XCTAssertEqual(mismatch.errorCode, -32020)
        let unclassified = try await client.post(MCPTestClient.body(id: 1, method: "server/discover"))
        XCTAssertEqual(unclassified.status, 400)
        let sessionless = try await client.post(MCPTestClient.body(id: 4, method: "tools/list"))
        XCTAssertEqual(sessionless.status, 200)
        let ask = try await client.modern(id: 2, method: "tools/call", params: ["name": "ask", "arguments": ["kind": "roots"]],
                                          meta: ModernEraTests.meta(extra: ["io.modelcontextprotocol/clientCapabilities": ["roots": [:]]]))
        XCTAssertEqual(ask.result?["resultType"] as? String, "input_required")
        _ = try await client.initialize()
        _ = try await client.call(id: 3, method: "tools/list")

        let after = MetricsSnapshot.take()
        XCTAssertEqual(after.delta(#"fjmcp_mcp_posts_total{era="modern"}"#, since: before), 3)
        XCTAssertEqual(after.delta(#"fjmcp_mcp_posts_total{era="unclassified"}"#, since: before), 1)
        XCTAssertEqual(after.delta(#"fjmcp_mcp_posts_total{era="sessionless"}"#, since: before), 1)
        XCTAssertEqual(after.delta("fjmcp_sessionless_requests_total", since: before), 1)
        XCTAssertEqual(after.delta(#"fjmcp_mcp_posts_total{era="legacy"}"#, since: before), 3, "initialize, initialized, tools/list")
        XCTAssertEqual(after.delta(#"fjmcp_modern_requests_total{method="tools/list",outcome="complete"}"#, since: before), 1)
        XCTAssertEqual(after.delta(#"fjmcp_modern_requests_total{method="tools/call",outcome="input_required"}"#, since: before), 1)
        XCTAssertEqual(after.delta(#"fjmcp_modern_rejected_total{code="-32020"}"#, since: before), 2)
        XCTAssertEqual(after.delta(#"fjmcp_mrtr_input_required_total{method="roots/list"}"#, since: before), 1)
    }
}
