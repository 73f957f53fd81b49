import Foundation
import XCTest

/// `FJMCP_RATE_LIMIT_SPAWN`: child starts are counted per user; over the bucket a request that
/// would start one is answered 429 with `Retry-After` and a JSON-RPC error, other users and
/// running children are unaffected.
final class MCPSpawnRateTests: XCTestCase {
    func testStartsOverTheUsersBucketAre429WithRetryAfterAndOtherUsersGoOn() async throws {
        let broker = try await MCPTestBroker.start(environment: ["FJMCP_RATE_LIMIT_SPAWN": "1/1h"])
        addTeardownBlock { await broker.stop() }
        var alice = try await broker.client()
        let opened = try await alice.initialize()
        XCTAssertEqual(opened.status, 200, opened.body)
        let whoami = try await alice.tool(id: 1, "whoami")
        XCTAssertEqual(whoami.structured?["login"] as? String, "alice", whoami.body)

        // Her user child would be a second process within the hour.
        let refused = try await alice.modern(id: 2, method: "tools/call", params: ["name": "whoami", "arguments": [:]])
        XCTAssertEqual(refused.status, 429, refused.body)
        let retryAfter = try XCTUnwrap(refused.headers["retry-after"].first.flatMap(Int.init), "\(refused.headers)")
        XCTAssertGreaterThan(retryAfter, 60, "an hourly bucket refills in about an hour, not at once")
        XCTAssertEqual(refused.final["id"] as? Int, 2, refused.body)
        XCTAssertEqual(refused.errorCode, -32603, refused.body)
        XCTAssertTrue((refused.error?["message"] as? String)?.contains("Too many MCP server starts") == true, refused.body)

        let still = try await alice.tool(id: 3, "echo", ["text": "running children answer"])
        XCTAssertEqual(still.structured?["text"] as? String, "running children answer", "her session's child is not touched")
        let bob = try await broker.client(login: "bob")
        let his = try await bob.modern(id: 1, method: "tools/call", params: ["name": "whoami", "arguments": [:]])
        XCTAssertEqual(his.status, 200, "the bucket is per user: \(his.body)")
    }

    func testOffLetsEveryStartThrough() async throws {
        let broker = try await MCPTestBroker.start(environment: ["FJMCP_RATE_LIMIT_SPAWN": "off"])
        addTeardownBlock { await broker.stop() }
        var alice = try await broker.client()
        // More starts than the default bucket (20) holds: only `off` lets them all through.
        for id in 1...22 {
            let opened = try await alice.initialize()
            XCTAssertEqual(opened.status, 200, opened.body)
            let answer = try await alice.tool(id: id, "whoami")
            XCTAssertEqual(answer.structured?["login"] as? String, "alice", answer.body)
            _ = try await alice.delete()
        }
        let modern = try await alice.modern(id: 9, method: "tools/call", params: ["name": "whoami", "arguments": [:]])
        XCTAssertEqual(modern.status, 200, modern.body)
    }
}
