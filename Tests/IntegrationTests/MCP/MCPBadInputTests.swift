import AsyncHTTPClient
import BrokerKit
import Foundation
import XCTest

/// Every malformed or disallowed request gets its one status and JSON-RPC error, and the
/// session keeps working afterwards.
final class MCPBadInputTests: XCTestCase {
    var broker: MCPTestBroker!
    var client: MCPTestClient!

    override func setUp() async throws {
        broker = try await MCPTestBroker.start(environment: ["FJMCP_MAX_BODY_SIZE": "65536"])
        client = try await broker.client()
        let reply = try await client.initialize(version: "2025-06-18")
        XCTAssertEqual(reply.status, 200)
    }

    override func tearDown() async throws {
        await broker.stop()
    }

    private func assertStillWorks(file: StaticString = #filePath, line: UInt = #line) async throws {
        let echo = try await client.tool(id: 99, "echo", ["text": "ok"])
        XCTAssertEqual(echo.structured?["text"] as? String, "ok", file: file, line: line)
    }

    func testMalformedJSONIsParseError() async throws {
        let reply = try await client.post("{\"jsonrpc\": \"2.0\", ")
        XCTAssertEqual(reply.status, 400)
        XCTAssertEqual(reply.errorCode, -32700)
        try await assertStillWorks()
    }

    func testInvalidJSONRPCIsInvalidRequest() async throws {
        for body in [#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, #"{"jsonrpc":"2.0","id":{},"method":"ping"}"#, "[]", "42"] {
            let reply = try await client.post(body)
            XCTAssertEqual(reply.status, 400, body)
            XCTAssertEqual(reply.errorCode, -32600, body)
        }
        try await assertStillWorks()
    }

    /// A Go or Python child would read these differently from the broker (last duplicate wins,
    /// `ID` matched to `id`, a second `Name` beside `name`): refused before they reach it.
    func testDuplicateAndCaseVariantMembersAreInvalidRequests() async throws {
        let bodies = [
            #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}},"id":99}"#,
            #"{"jsonrpc":"2.0","id":7,"ID":8,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}}}"#,
            #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","Name":"other","arguments":{"text":"a"}}}"#,
            #"{"jsonrpc":"2.0","id":3,"Method":"ping","method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}}}"#,
            #"{"jsonrpc":"2.0","id":4,"method":"tools/call","Params":{"name":"echo","arguments":{"text":"a"}}}"#,
            #"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a","text":"b"}}}"#,
            #"{"JSONRPC":"2.0","jsonrpc":"2.0","id":6,"method":"ping"}"#,
        ]
        for body in bodies {
            let reply = try await client.post(body)
            XCTAssertEqual(reply.status, 400, body)
            XCTAssertEqual(reply.errorCode, -32600, body)
            XCTAssertTrue((reply.error?["message"] as? String ?? "").contains("member name"), "refused for its member names: \(reply.body)")
        }
        try await assertStillWorks()
    }

    func testWrongContentTypeIs415AndWrongAcceptIs406() async throws {
        let ping = MCPTestClient.body(id: 1, method: "ping")
        let text = try await client.post(ping, headers: [("Content-Type", "text/plain")])
        XCTAssertEqual(text.status, 415)
        XCTAssertEqual(text.errorCode, -32600)
        let jsonOnly = try await client.post(ping, headers: [("Accept", "application/json")])
        XCTAssertEqual(jsonOnly.status, 406)
        XCTAssertTrue((jsonOnly.error?["message"] as? String)?.contains("text/event-stream") ?? false, jsonOnly.body)
        let anything = try await client.post(ping, headers: [("Accept", "*/*")])
        XCTAssertEqual(anything.status, 200)
        let streamOnly = try await client.send(client.request(.GET, headers: [("Accept", "application/json")]))
        XCTAssertEqual(streamOnly.status, 406)
    }

    func testHugeBodyIs413() async throws {
        let text = String(repeating: "x", count: 100_000)
        let reply = try await client.post(MCPTestClient.body(id: 1, method: "tools/call", params: ["name": "echo", "arguments": ["text": text]]))
        XCTAssertEqual(reply.status, 413)
        try await assertStillWorks()
    }

    func testMissingUnknownAndForeignSessionIDs() async throws {
        var anonymous = client!
        anonymous.sessionID = nil
        let missing = try await anonymous.call(id: 1, method: "tools/list")
        XCTAssertEqual(missing.status, 200, "served on the user's child (compatibility): \(missing.body)")
        let batch = try await anonymous.post("[" + MCPTestClient.body(id: 1, method: "tools/list") + "]")
        XCTAssertEqual(batch.status, 400, "a batch still needs a session: \(batch.body)")
        var unknown = client!
        unknown.sessionID = "no-such-session"
        let notFound = try await unknown.call(id: 1, method: "tools/list")
        XCTAssertEqual(notFound.status, 404)
        XCTAssertEqual(notFound.final["id"] as? Int, 1)
        let reinitialize = try await client.post(MCPTestClient.body(id: 2, method: "initialize", params: ["protocolVersion": "2025-06-18"]))
        XCTAssertEqual(reinitialize.status, 400)
        try await assertStillWorks()
    }

    func testProtocolVersionHeaderIsValidated() async throws {
        let ping = MCPTestClient.body(id: 1, method: "ping")
        let unknown = try await client.post(ping, headers: [("MCP-Protocol-Version", "1999-01-01")])
        XCTAssertEqual(unknown.status, 400)
        let other = try await client.post(ping, headers: [("MCP-Protocol-Version", "2025-11-25")])
        XCTAssertEqual(other.status, 400)
        let missing = try await client.post(ping, replacing: ["mcp-protocol-version"])
        XCTAssertEqual(missing.status, 200, "a missing header means the negotiated version")
    }

    func testBatchesOnlyOnTheirProtocolVersion() async throws {
        let batch = "[" + MCPTestClient.body(id: 1, method: "ping") + "," + MCPTestClient.body(id: 2, method: "tools/list") + "]"
        let refused = try await client.post(batch)
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual(refused.errorCode, -32600)

        var legacy = try await broker.client()
        _ = try await legacy.initialize(version: "2025-03-26")
        let answered = try await legacy.post(batch + "")
        XCTAssertEqual(answered.status, 200, answered.body)
        let array = try XCTUnwrap((try? JSONSerialization.jsonObject(with: Data(answered.body.utf8))) as? [[String: Any]])
        XCTAssertEqual(Set(array.compactMap { $0["id"] as? Int }), [1, 2])
        let notifications = try await legacy.post("[" + MCPTestClient.json(["jsonrpc": "2.0", "method": "notifications/initialized"]) + "]")
        XCTAssertEqual(notifications.status, 202)

        var fresh = try await broker.client()
        fresh.sessionID = nil
        let initializeBatch = try await fresh.post("[" + MCPTestClient.body(id: 1, method: "initialize", params: [:]) + "]")
        XCTAssertEqual(initializeBatch.status, 400)
        XCTAssertEqual(initializeBatch.errorCode, -32600)
    }

    func testForeignOriginIs403WithoutIDAndWrongHostIs421() async throws {
        let ping = MCPTestClient.body(id: 1, method: "ping")
        let origin = try await client.post(ping, headers: [("Origin", "https://evil.example")])
        XCTAssertEqual(origin.status, 403)
        XCTAssertNotNil(origin.error)
        XCTAssertNil(origin.final["id"])
        let sameOrigin = try await client.post(ping, headers: [("Origin", broker.baseURL)])
        XCTAssertEqual(sameOrigin.status, 200)
        let host = try await client.post(ping, headers: [("Host", "evil.example")])
        XCTAssertEqual(host.status, 421)
    }

    func testMissingTokenIs401WithChallenge() async throws {
        let reply = try await client.post(MCPTestClient.body(id: 1, method: "ping"), replacing: ["authorization"])
        XCTAssertEqual(reply.status, 401)
        XCTAssertTrue(reply.headers["www-authenticate"].first?.contains("resource_metadata") ?? false)
    }
}
