import AsyncHTTPClient
import BrokerKit
import Foundation
import XCTest

/// Hand-built 2026-07-28 requests against the real `/mcp` over loopback: every way the
/// `Mcp-Param-*` headers can disagree with the body (the demo child marks `echo.text` and
/// `sleep.ms` with `x-mcp-header`), and the edges around era selection, each with the exact
/// JSON-RPC code and HTTP status.
final class ModernValidationTests: XCTestCase {
    private static var echo: [String: Any] { ["name": "echo", "arguments": ["text": "hello"]] }

    func testModernParamHeaderMismatchesAnswer400WithHeaderMismatch() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        let client = try await broker.client()
        let cases: [(String, MCPReply)] = [
            ("Mcp-Param-Text missing", try await client.modern(method: "tools/call", params: Self.echo, omitting: ["Mcp-Param-Text"])),
            ("Mcp-Param-Text differs", try await client.modern(method: "tools/call", params: Self.echo, headers: ["Mcp-Param-Text": "hellO"])),
            ("Mcp-Param-Text base64 of another value", try await client.modern(
                method: "tools/call", params: Self.echo, headers: ["Mcp-Param-Text": "=?base64?aGVsbG8h?="])),
            ("Mcp-Param-Text invalid base64", try await client.modern(
                method: "tools/call", params: Self.echo, headers: ["Mcp-Param-Text": "=?base64?%%%?="])),
            ("Mcp-Param-Text base64 of invalid UTF-8", try await client.modern(
                method: "tools/call", params: Self.echo, headers: ["Mcp-Param-Text": "=?base64?/w==?="])),
            ("Mcp-Param-Text sentinel with uppercase markers", try await client.modern(
                method: "tools/call", params: Self.echo, headers: ["Mcp-Param-Text": "=?BASE64?aGVsbG8=?="])),
            ("non-ASCII body value sent plain", try await client.modern(
                method: "tools/call", params: ["name": "echo", "arguments": ["text": "grüße"]], headers: ["Mcp-Param-Text": "gr?e"])),
            ("header without the argument", try await client.modern(
                method: "tools/call", params: ["name": "echo", "arguments": [:]], headers: ["Mcp-Param-Text": "hello"])),
            ("header for a null argument", try await client.modern(
                method: "tools/call", params: ["name": "echo", "arguments": ["text": NSNull()]], headers: ["Mcp-Param-Text": "null"])),
            ("Mcp-Param-Ms differs", try await client.modern(
                method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 5]], headers: ["Mcp-Param-Ms": "6"])),
            ("Mcp-Param-Ms not a number", try await client.modern(
                method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 5]], headers: ["Mcp-Param-Ms": "five"])),
            ("Mcp-Param-Ms for a string argument", try await client.modern(
                method: "tools/call", params: ["name": "sleep", "arguments": ["ms": "5"]], headers: ["Mcp-Param-Ms": "5"])),
            ("Mcp-Param-Ms for a fraction", try await client.modern(
                method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 5.5]], headers: ["Mcp-Param-Ms": "5"])),
            ("Mcp-Param-Ms missing", try await client.modern(
                method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 5]], omitting: ["Mcp-Param-Ms"])),
        ]
        for (name, reply) in cases {
            XCTAssertEqual(reply.status, 400, "\(name): \(reply.body)")
            XCTAssertEqual(reply.errorCode, -32020, "\(name): \(reply.body)")
            XCTAssertEqual(reply.final["id"] as? Int, 1, name)
            XCTAssertFalse(reply.isEventStream, name)
        }
        let pending = await broker.host.pendingRequests(userID: 101)
        XCTAssertEqual(pending, 0, "a rejected call never reaches the child")
    }

    func testModernParamHeadersThatMatchAreAccepted() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        let client = try await broker.client()
        let plain = try await client.modern(method: "tools/call", params: Self.echo)
        XCTAssertEqual(plain.status, 200, plain.body)
        XCTAssertEqual(plain.structured?["text"] as? String, "hello")

        let unicode = "grüße, 世界"
        let encoded = try await client.modern(method: "tools/call", params: ["name": "echo", "arguments": ["text": unicode]])
        XCTAssertEqual(encoded.status, 200, encoded.body)
        XCTAssertEqual(encoded.structured?["text"] as? String, unicode)

        let padded = try await client.modern(method: "tools/call", params: ["name": "echo", "arguments": ["text": " padded "]])
        XCTAssertEqual(padded.status, 200, "leading/trailing spaces travel base64-encoded: \(padded.body)")
        let sentinel = try await client.modern(method: "tools/call", params: ["name": "echo", "arguments": ["text": "=?base64?literal?="]])
        XCTAssertEqual(sentinel.status, 200, "a value that looks like the sentinel is itself encoded: \(sentinel.body)")
        XCTAssertEqual(sentinel.structured?["text"] as? String, "=?base64?literal?=")

        let lowercase = try await client.modern(method: "tools/call", params: Self.echo,
                                                headers: ["mcp-param-text": "hello"], omitting: ["Mcp-Param-Text"])
        XCTAssertEqual(lowercase.status, 200, "header names are case-insensitive: \(lowercase.body)")
        let numeric = try await client.modern(method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 5]],
                                              headers: ["Mcp-Param-Ms": "005"])
        XCTAssertEqual(numeric.status, 200, "integers compare as numbers: \(numeric.body)")
        let unknown = try await client.modern(method: "tools/call", params: Self.echo, headers: ["Mcp-Param-Region": "eu"])
        XCTAssertEqual(unknown.status, 200, "an Mcp-Param header the tool does not declare is ignored: \(unknown.body)")
        let absent = try await client.modern(method: "tools/call", params: ["name": "echo", "arguments": [:]])
        XCTAssertEqual(absent.status, 200, "no argument, no header expected: \(absent.body)")
        XCTAssertEqual(absent.result?["isError"] as? Bool, true, "the child itself rejects the missing text")
        let null = try await client.modern(method: "tools/call", params: ["name": "echo", "arguments": ["text": NSNull()]])
        XCTAssertEqual(null.status, 200, "a null argument needs no header: \(null.body)")
        let otherTool = try await client.modern(method: "tools/call", params: ["name": "whoami", "arguments": [:]],
                                                headers: ["Mcp-Param-Text": "not checked"])
        XCTAssertEqual(otherTool.status, 200, "only the called tool's annotations count: \(otherTool.body)")
    }

    func testModernRequestWithALiveLegacySessionIDStaysModern() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        var legacy = try await broker.client()
        _ = try await legacy.initialize()
        let sessionID = try XCTUnwrap(legacy.sessionID)
        let modern = MCPTestClient(baseURL: legacy.baseURL, accessToken: legacy.accessToken, httpClient: legacy.httpClient)
        let reply = try await modern.modern(id: 4, method: "tools/list", headers: ["Mcp-Session-Id": sessionID])
        XCTAssertEqual(reply.status, 200, reply.body)
        XCTAssertEqual(reply.result?["resultType"] as? String, "complete", "modern _meta wins over a session id")
        XCTAssertNil(reply.headers["mcp-session-id"].first, "never echoed to a modern request")
        let bad = try await modern.modern(id: 5, method: "tools/list", headers: ["Mcp-Session-Id": sessionID, "Mcp-Method": "tools/call"])
        XCTAssertEqual(bad.status, 400, bad.body)
        XCTAssertEqual(bad.errorCode, -32020, "validated as modern, not routed to the session")
        let children = await broker.host.userChildCount
        XCTAssertEqual(children, 1)
    }

    func testModernHugeMetaIsServedUpToTheBodyLimit() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        let client = try await broker.client()
        let big = String(repeating: "m", count: 900_000)
        let served = try await client.modern(id: 2, method: "tools/call", params: Self.echo,
                                             meta: ModernEraTests.meta(extra: ["com.example/blob": big]))
        XCTAssertEqual(served.status, 200, String(served.body.prefix(300)))
        XCTAssertEqual(served.structured?["text"] as? String, "hello")
        let tooBig = try await client.modern(id: 3, method: "tools/list", meta: ModernEraTests.meta(extra: ["com.example/blob": big + big]))
        XCTAssertEqual(tooBig.status, 413, "over FJMCP_MAX_BODY_SIZE: \(tooBig.body.prefix(300))")
        let manyKeys = Dictionary(uniqueKeysWithValues: (0..<20_000).map { ("io.modelcontextprotocol/k\($0)", $0) })
        let keys = try await client.modern(id: 4, method: "tools/list", meta: ModernEraTests.meta(extra: manyKeys))
        XCTAssertEqual(keys.status, 200, String(keys.body.prefix(300)))
    }

    func testModernInitializeStillOpensASessionAfterModernErrors() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        var client = try await broker.client()
        let errors = [
            try await client.modern(method: "tools/list", headers: ["Mcp-Method": "tools/call"]),
            try await client.modern(method: "tools/list", meta: ModernEraTests.meta(version: "1900-01-01"),
                                    headers: ["MCP-Protocol-Version": "1900-01-01"]),
            try await client.modern(method: "tools/call", params: Self.echo, omitting: ["Mcp-Param-Text"]),
        ]
        XCTAssertEqual(errors.map(\.status), [400, 400, 400])
        XCTAssertEqual(errors.map(\.errorCode), [-32020, -32022, -32020])
        let opened = try await client.initialize()
        XCTAssertEqual(opened.status, 200, opened.body)
        XCTAssertNotNil(client.sessionID, "a dual-era client falls back to initialize and gets a session")
        XCTAssertEqual(opened.result?["protocolVersion"] as? String, "2025-11-25")
        let tools = try await client.call(id: 2, method: "tools/list")
        XCTAssertEqual(tools.status, 200, tools.body)
        XCTAssertNil(tools.result?["resultType"], "legacy answers are not translated")
    }
}
