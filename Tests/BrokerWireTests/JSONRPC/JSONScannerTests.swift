import XCTest

@testable import BrokerWire

final class JSONScannerTests: XCTestCase {
    private func parse(_ text: String) throws -> JSONRPCMessage {
        try JSONRPCMessage(Array(text.utf8))
    }

    private func assertFails(_ text: String, _ expected: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try parse(text), text, file: file, line: line) { error in
            XCTAssertEqual((error as? JSONRPCParseError)?.code, expected, "\(text): \(error)", file: file, line: line)
        }
    }

    func testClassifiesEachKind() throws {
        let request = try parse(#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{}}"#)
        XCTAssertEqual(request.kind, .request)
        XCTAssertEqual(request.id, .int(7))
        XCTAssertEqual(request.method, "tools/call")

        let notification = try parse(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        XCTAssertEqual(notification.kind, .notification)
        XCTAssertNil(notification.id)

        let response = try parse(#"{"jsonrpc":"2.0","id":"abc","result":{"id":99}}"#)
        XCTAssertEqual(response.kind, .response)
        XCTAssertEqual(response.id, .string("abc"))

        let error = try parse(#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#)
        XCTAssertEqual(error.kind, .errorResponse)
        XCTAssertEqual(error.id, .null)

        let batch = try parse(#" [ {"jsonrpc":"2.0","method":"a"}, 5 ] "#)
        XCTAssertEqual(batch.kind, .batch)
        let elements = batch.batchElements()
        XCTAssertEqual(elements.count, 2)
        XCTAssertEqual(try elements[0].get().method, "a")
        XCTAssertThrowsError(try elements[1].get())
    }

    func testIDTypes() throws {
        XCTAssertEqual(try parse(#"{"jsonrpc":"2.0","id":-12,"method":"m"}"#).id, .int(-12))
        XCTAssertEqual(try parse(#"{"jsonrpc":"2.0","id":1.5,"method":"m"}"#).id, .number("1.5"))
        XCTAssertEqual(try parse(#"{"jsonrpc":"2.0","id":"a\"b\u00e9\ud83d\ude00","method":"m"}"#).id, .string("a\"bé😀"))
        XCTAssertEqual(try parse(#"{"jsonrpc":"2.0","id":"","method":"m"}"#).rawID, Array(#""""#.utf8))
    }

    func testNestedIDKeysAreNotConfused() throws {
        let message = try parse(
            #"{"params":{"id":1,"x":[{"id":2}],"method":"no"},"method":"tools/call","jsonrpc":"2.0","id":"real"}"#)
        XCTAssertEqual(message.id, .string("real"))
        XCTAssertEqual(message.method, "tools/call")
        let inString = try parse(#"{"jsonrpc":"2.0","method":"m","params":{"text":"\"id\":5"}}"#)
        XCTAssertEqual(inString.kind, .notification)
    }

    func testEscapedKeysAndWhitespace() throws {
        let message = try parse(" \n\t{ \"jsonrpc\" : \"2.0\" ,\r\n \"\\u0069d\" : 3 , \"meth\\u006fd\":\"ping\" } \n")
        XCTAssertEqual(message.id, .int(3))
        XCTAssertEqual(message.method, "ping")
        XCTAssertEqual(message.kind, .request)
    }

    func testReplacingIDKeepsEveryOtherByte() throws {
        let text = #"{"jsonrpc":"2.0", "id" : "client-1" ,"method":"x","params":{"n":1.50,"k":"v"}}"#
        let message = try parse(text)
        let replaced = String(decoding: message.replacingID(with: .int(42)), as: UTF8.self)
        XCTAssertEqual(replaced, #"{"jsonrpc":"2.0", "id" : 42 ,"method":"x","params":{"n":1.50,"k":"v"}}"#)
        let back = try JSONRPCMessage(Array(replaced.utf8))
        XCTAssertEqual(String(decoding: back.replacingID(withRaw: message.rawID ?? []), as: UTF8.self), text)
    }

    func testParamsLookups() throws {
        let request = try parse(#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"_meta":{"progressToken":"tok"}}}"#)
        XCTAssertEqual(request.progressToken?.id, .string("tok"))
        let cancelled = try parse(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9}}"#)
        XCTAssertEqual(cancelled.cancelledRequestID?.id, .int(9))
        let progress = try parse(#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":4,"progress":1}}"#)
        XCTAssertEqual(progress.notifiedProgressToken?.id, .int(4))
        XCTAssertNil(try parse(#"{"jsonrpc":"2.0","id":1,"method":"m","params":[1]}"#).progressToken)
        XCTAssertNil(try parse(#"{"jsonrpc":"2.0","id":1,"method":"m"}"#).progressToken)
    }

    func testMalformedJSONIsParseError() {
        for text in [
            "", "   ", "{", #"{"a":}"#, #"{"a" 1}"#, #"{"a":1,}"#, "[1,]", #"{"a":tru}"#, #"{"a":"\x"}"#,
            "{\"a\":\"line\nbreak\"}", #"{"a":01}"#, #"{"a":1.}"#, #"{"a":-}"#, #"{"a":1e}"#, #"{"a":"\u12"}"#,
            #"{"jsonrpc":"2.0","method":"m"} x"#, #"{"a":"unterminated}"#, String(repeating: "[", count: 1000),
        ] {
            assertFails(text, -32700)
        }
    }

    func testValidJSONThatIsNotJSONRPCIsInvalidRequest() {
        for text in [
            "5", #""str""#, "null", "[]", #"{}"#, #"{"jsonrpc":"1.0","method":"m"}"#, #"{"jsonrpc":2.0,"method":"m"}"#,
            #"{"jsonrpc":"2.0","method":5}"#, #"{"jsonrpc":"2.0","id":{},"method":"m"}"#,
            #"{"jsonrpc":"2.0","id":null,"method":"m"}"#, #"{"jsonrpc":"2.0","id":1}"#,
            #"{"jsonrpc":"2.0","id":1,"result":1,"error":{}}"#, #"{"jsonrpc":"2.0","result":1}"#,
            #"{"jsonrpc":"2.0","method":"m","params":"x"}"#,
        ] {
            assertFails(text, -32600)
        }
    }

    func testErrorResponsesAreValidJSONRPC() throws {
        let parseError = try JSONRPCMessage(JSONRPCParseError.parseError("x").response)
        XCTAssertEqual(parseError.kind, .errorResponse)
        XCTAssertEqual(parseError.id, .null)
        let made = try JSONRPCMessage(JSONRPCEnvelope.error(rawID: Array("7".utf8), code: -32603, message: "a \"b\"\n"))
        XCTAssertEqual(made.id, .int(7))
    }
}
