import Foundation
import HTTPTypes
import XCTest

@testable import BrokerKit

/// The 2026-07-28 translation rules the demo child cannot trigger over HTTP: `_meta`
/// stripping, `Mcp-Name` decoding, the relay's drop rules, `-32002` and result rewriting.
final class ModernTranslationTests: XCTestCase {
    private let server = ChildServerInfo(initializeResponse: Array(#"""
        {"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","serverInfo":{"name":"child","version":"2"},
        "capabilities":{"tools":{"listChanged":true},"resources":{"subscribe":true,"listChanged":true},"logging":{}},
        "instructions":"be nice"}}
        """#.utf8))

    private func results() throws -> ModernResult {
        ModernResult(server: try XCTUnwrap(server), cacheTTLMilliseconds: 5_000)
    }

    private func request(_ method: String = "tools/list", params: String = "", meta extra: String = "") throws -> ModernRequest {
        let body = #"{"jsonrpc":"2.0","id":"r-1","method":"\#(method)","params":{\#(params)"_meta":{"#
            + #""io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"#
            + #""io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"}\#(extra)}}}"#
        var headers: HTTPFields = [.mcpProtocolVersion: "2026-07-28", .mcpMethod: method]
        if method == "tools/call" { headers[.mcpName] = "echo" }
        return try ModernRequest(validating: try JSONRPCMessage(Array(body.utf8)), headers: headers)
    }

    private static func object(_ bytes: [UInt8]) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
    }

    func testModernForwardedRequestLosesOnlyProtocolMetaKeys() throws {
        let modern = try request("tools/call", params: #""name":"echo","arguments":{"text":"a/b"},"#, meta: #","progressToken":7"#)
        let forwarded = try XCTUnwrap(modern.forwarded)
        XCTAssertEqual(forwarded.rawID, Array(#""r-1""#.utf8))
        let params = try XCTUnwrap(Self.object(forwarded.bytes)["params"] as? [String: Any])
        XCTAssertEqual(params["_meta"] as? [String: Int], ["progressToken": 7])
        XCTAssertEqual((params["arguments"] as? [String: String])?["text"], "a/b")
        XCTAssertEqual(forwarded.progressToken?.id, .int(7), "the bridge can still rewrite the token")
        XCTAssertTrue(modern.wantsProgress)
        XCTAssertNil(modern.logThreshold)

        let bare = try request().forwarded
        XCTAssertNil((Self.object(try XCTUnwrap(bare).bytes)["params"] as? [String: Any])?["_meta"], "an empty _meta is removed")
        XCTAssertNil(try request("server/discover").forwarded, "discover is answered by the broker")
    }

    func testModernForwardedRequestAndResultKeepTheBytesAsWritten() throws {
        let modern = try request("tools/call", params: #""name":"echo","arguments":{"text":"a\/b","n":1.50},"requestState":"s","#,
                                 meta: #","progressToken":"p""#)
        XCTAssertEqual(String(decoding: try XCTUnwrap(modern.forwarded).bytes, as: UTF8.self),
                       #"{"jsonrpc":"2.0","id":"r-1","method":"tools/call","params":{"name":"echo","arguments":{"text":"a\/b","n":1.50},"#
                           + #""_meta":{"progressToken":"p"}}}"#)
        let translated = try results().translate(
            Array(#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"a\/b"}],"n":1.50}}"#.utf8),
            method: "tools/call", rawID: Array(#""r-1""#.utf8))
        XCTAssertEqual(String(decoding: translated, as: UTF8.self),
                       #"{"jsonrpc":"2.0","id":"r-1","result":{"content":[{"type":"text","text":"a\/b"}],"n":1.50,"#
                           + #""resultType":"complete","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"child","version":"2"}}}}"#)
    }

    func testModernHeaderValuesDecodeBase64AndRejectUnsafeText() {
        XCTAssertEqual(ModernRequest.decodeHeaderValue("whoami"), "whoami")
        XCTAssertEqual(ModernRequest.decodeHeaderValue("=?base64?w7w=?="), "ü")
        XCTAssertEqual(ModernRequest.decodeHeaderValue("=?base64?ICBsZWFk?="), "  lead")
        XCTAssertNil(ModernRequest.decodeHeaderValue("=?base64?***?="))
        XCTAssertNil(ModernRequest.decodeHeaderValue("ü"))
        XCTAssertNil(ModernRequest.decodeHeaderValue(" lead"))
        XCTAssertNil(ModernRequest.decodeHeaderValue("tab\there"))
    }

    func testModernRelayDropsWhatTheClientDidNotAskFor() throws {
        let results = try results()
        let progress = BridgeEvent.message(Array(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":7,"progress":1}}"#.utf8))
        let info = BridgeEvent.message(Array(#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}"#.utf8))
        let error = BridgeEvent.message(Array(#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"error","data":"x"}}"#.utf8))
        let listChanged = BridgeEvent.message(Array(#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#.utf8))
        let ask = BridgeEvent.message(Array(#"{"jsonrpc":"2.0","id":"fjmcp-1","method":"elicitation/create","params":{}}"#.utf8))

        let plain = try request()
        let tracked = try request(meta: #","progressToken":7,"io.modelcontextprotocol/logLevel":"warning""#)
        func sent(_ event: BridgeEvent, _ modern: ModernRequest) -> Bool {
            if case .send = ModernRelay.disposition(of: event, for: modern, results: results) { return true }
            return false
        }
        XCTAssertFalse(sent(progress, plain))
        XCTAssertTrue(sent(progress, tracked))
        XCTAssertFalse(sent(error, plain), "no logLevel, no notifications/message")
        XCTAssertFalse(sent(info, tracked), "below the requested level")
        XCTAssertTrue(sent(error, tracked))
        XCTAssertFalse(sent(listChanged, tracked))
        guard case .answerChild(let request) = ModernRelay.disposition(of: ask, for: tracked, results: results) else {
            return XCTFail("a child request is answered to the child, never sent to a modern client")
        }
        XCTAssertEqual(request.method, "elicitation/create")
    }

    func testModernResultsGetResultTypeCachingAndServerInfo() throws {
        let results = try results()
        let id = Array(#""r-1""#.utf8)
        let list = Self.object(results.translate(Array(#"{"jsonrpc":"2.0","id":"r-1","result":{"tools":[],"_meta":{"x":1}}}"#.utf8),
                                                 method: "tools/list", rawID: id))
        XCTAssertEqual(list["id"] as? String, "r-1")
        let result = try XCTUnwrap(list["result"] as? [String: Any])
        XCTAssertEqual(result["resultType"] as? String, "complete")
        XCTAssertEqual(result["ttlMs"] as? Int, 5_000)
        XCTAssertEqual(result["cacheScope"] as? String, "private")
        let meta = try XCTUnwrap(result["_meta"] as? [String: Any])
        XCTAssertEqual(meta["x"] as? Int, 1, "the child's own _meta survives")
        XCTAssertEqual((meta["io.modelcontextprotocol/serverInfo"] as? [String: String])?["name"], "child")

        let call = Self.object(results.translate(Array(#"{"jsonrpc":"2.0","id":"r-1","result":{"resultType":"input_required"}}"#.utf8),
                                                 method: "tools/call", rawID: id))["result"] as? [String: Any]
        XCTAssertEqual(call?["resultType"] as? String, "input_required", "an explicit resultType is kept")
        XCTAssertNil(call?["ttlMs"])

        let missing = Self.object(results.translate(
            Array(#"{"jsonrpc":"2.0","id":"r-1","error":{"code":-32002,"message":"Resource not found","data":{"uri":"a"}}}"#.utf8),
            method: "resources/read", rawID: id))
        let error = try XCTUnwrap(missing["error"] as? [String: Any])
        XCTAssertEqual(error["code"] as? Int, -32602, "-32002 must not reach a 2026-07-28 client")
        XCTAssertEqual((error["data"] as? [String: String])?["uri"], "a")
        XCTAssertEqual(missing["id"] as? String, "r-1")
    }

    func testModernDiscoverAdvertisesWhatListenDelivers() throws {
        let discover = try XCTUnwrap(Self.object(try results().discover(rawID: Array("3".utf8)))["result"] as? [String: Any])
        XCTAssertEqual(discover["supportedVersions"] as? [String], ["2026-07-28"])
        XCTAssertEqual(discover["instructions"] as? String, "be nice")
        XCTAssertEqual(discover["cacheScope"] as? String, "private")
        let capabilities = try XCTUnwrap(discover["capabilities"] as? [String: Any])
        XCTAssertEqual((capabilities["tools"] as? [String: Bool])?["listChanged"], true)
        XCTAssertEqual(capabilities["resources"] as? [String: Bool], ["subscribe": true, "listChanged": true],
                       "subscriptions/listen carries list changes and resource updates")
        XCTAssertNil(capabilities["prompts"], "nothing the child does not offer")
        XCTAssertNotNil(capabilities["logging"])
    }

    func testModernUnsupportedVersionErrorListsLegacyVersionsToo() throws {
        let error = ModernRequestError(.unsupportedVersion(requested: "1900-01-01"), rawID: Array("5".utf8))
        let body = Self.object(error.body)
        XCTAssertEqual(body["id"] as? Int, 5)
        let payload = try XCTUnwrap(body["error"] as? [String: Any])
        XCTAssertEqual(payload["code"] as? Int, -32022)
        XCTAssertEqual((payload["data"] as? [String: Any])?["supported"] as? [String],
                       ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"])
        XCTAssertEqual(error.status, .badRequest)
    }
}
