@testable import BrokerKit
import XCTest

/// The failed-call signal of upstream truth: which child answers count as a failed call.
final class ChildAnswerTests: XCTestCase {
    private func failed(_ json: String) throws -> Bool {
        ChildAnswer.endedInError(try JSONRPCMessage(Array(json.utf8)))
    }

    func testJSONRPCErrorsAndErrorResultsCount() throws {
        XCTAssertTrue(try failed(#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"boom"}}"#))
        XCTAssertTrue(try failed(#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"401"}],"isError":true}}"#))
        XCTAssertTrue(try failed(#"{"jsonrpc":"2.0","id":1,"result":{"isError" :  true,"content":[]}}"#))
        XCTAssertTrue(try failed("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"isError\":\n\ttrue}}"))
    }

    func testSuccessesDoNotCount() throws {
        XCTAssertFalse(try failed(#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":false}}"#))
        XCTAssertFalse(try failed(#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"Error: none"}]}}"#))
        // Inside a string the quotes are escaped: a tool reporting on JSON is not a failure.
        XCTAssertFalse(try failed(#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"{\"isError\":true}"}]}}"#))
        XCTAssertFalse(try failed(#"{"jsonrpc":"2.0","id":1,"result":{"isErrorCount":true,"xisError":true}}"#))
        XCTAssertFalse(try failed(#"{"jsonrpc":"2.0","id":1,"result":{"isError":"true"}}"#))
    }

    func testMessagesThatAreNotAnswersDoNotCount() throws {
        XCTAssertFalse(try failed(#"{"jsonrpc":"2.0","method":"notifications/message","params":{"isError":true}}"#))
        XCTAssertFalse(try failed(#"{"jsonrpc":"2.0","id":"s1","method":"elicitation/create","params":{"isError":true}}"#))
    }

    func testAMemberNameAtTheVeryEndIsReadSafely() {
        XCTAssertFalse(ChildAnswer.hasTrueIsError(Array(#""isError""#.utf8)))
        XCTAssertFalse(ChildAnswer.hasTrueIsError(Array(#""isError":tru"#.utf8)))
        XCTAssertFalse(ChildAnswer.hasTrueIsError(Array("Error\"".utf8)))
        XCTAssertTrue(ChildAnswer.hasTrueIsError(Array(#""isError":true"#.utf8)))
        XCTAssertFalse(ChildAnswer.hasTrueIsError([]))
    }
}
