import XCTest

@testable import BrokerWire

/// Client messages whose member names a child could read differently from the broker
/// (duplicates at any depth, case variants Go's encoding/json would match) are -32600.
final class JSONMemberNameTests: XCTestCase {
    private func strict(_ text: String) throws -> JSONRPCMessage {
        try JSONRPCMessage(Array(text.utf8), memberNames: .strict)
    }

    private func assertRefused(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try strict(text), text, file: file, line: line) { error in
            XCTAssertEqual((error as? JSONRPCParseError)?.code, -32600, "\(text): \(error)", file: file, line: line)
        }
    }

    func testDuplicateMembersAtAnyDepthAreRefused() {
        assertRefused(#"{"jsonrpc":"2.0","id":1,"method":"ping","id":99}"#)
        assertRefused(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"delete_repo"}}"#)
        assertRefused(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"a":{"b":[{"c":1,"c":2}]}}}}"#)
        // The same name written with an escape is the same name.
        assertRefused(#"{"jsonrpc":"2.0","id":1,"method":"ping","\u0069d":2}"#)
    }

    /// The first eight names of an object are checked inline, later ones in a set: a repeat is
    /// found on either side of that line, and as many distinct names as wanted still pass.
    func testRepeatsAreFoundBeforeAndPastTheInlineNames() throws {
        func arguments(_ names: [String]) -> String {
            let members = names.enumerated().map { #""\#($0.element)":\#($0.offset)"# }.joined(separator: ",")
            return #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{\#(members)}}}"#
        }
        let distinct = (0..<40).map { "k\($0)" }
        XCTAssertEqual(try strict(arguments(distinct)).method, "tools/call")
        assertRefused(arguments(Array(distinct[0..<5]) + ["K2"]))
        assertRefused(arguments(Array(distinct[0..<8]) + ["K3"]))
        assertRefused(arguments(Array(distinct[0..<8]) + ["k8", "k9", "K8"]))
        assertRefused(arguments(Array(distinct[0..<30]) + ["k\\u0030"]))
    }

    func testCaseVariantsAreRefused() {
        assertRefused(#"{"jsonrpc":"2.0","id":7,"ID":8,"method":"ping"}"#)
        assertRefused(#"{"jsonrpc":"2.0","id":7,"Method":"tools/call","method":"ping"}"#)
        assertRefused(#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","Name":"delete_repo"}}"#)
        assertRefused(#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"Path":1,"path":2}}}"#)
        // Alone, a variant of a member the broker reads is invisible to it but not to a Go child.
        assertRefused(#"{"jsonrpc":"2.0","ID":8,"method":"ping"}"#)
        assertRefused(#"{"JSONRPC":"2.0","jsonrpc":"2.0","id":1,"method":"ping"}"#)
        assertRefused(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","Params":{"name":"echo"}}"#)
        assertRefused(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"delete_repo"}}"#)
        assertRefused(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e","_meta":{"ProgressToken":1}}}"#)
        // Non-ASCII letters whose case folding reaches ASCII: LONG S and KELVIN SIGN.
        assertRefused(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e","_meta":{"progre\u017FsToken":1}}}"#)
        assertRefused(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e","arguments":{"\u212Aey":1,"key":2}}}"#)
        assertRefused("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":{\"a\":{\"\u{00C9}t\u{00E9}\":1,\"\u{00E9}t\u{00E9}\":2}}}")
    }

    func testDistinctNamesAndTheLenientModeStillParse() throws {
        let message = try strict(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"id":1,"ids":[{"id":2},{"id":3}],"Identity":"x"}}}"#)
        XCTAssertEqual(message.id, .int(1))
        // A child's own output is relayed as it is.
        let child = try JSONRPCMessage(Array(#"{"jsonrpc":"2.0","id":1,"result":{"ID":1,"id":2,"id":3}}"#.utf8))
        XCTAssertEqual(child.kind, .response)
    }

    func testEachBatchElementIsCheckedOnItsOwn() throws {
        let batch = try strict(#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"Id":3,"method":"ping"}]"#)
        let elements = batch.batchElements()
        XCTAssertEqual(try elements[0].get().id, .int(1))
        XCTAssertThrowsError(try elements[1].get()) { XCTAssertEqual(($0 as? JSONRPCParseError)?.code, -32600) }
    }

    /// The check stays linear: an object with 50,000 distinct members and one with 50,000
    /// nested levels of arrays of objects are scanned in well under a second.
    func testManyMembersStayLinear() throws {
        let members = (0..<50_000).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        let bytes = Array((#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"# + members + "}}").utf8)
        let lenientStart = ContinuousClock.now
        _ = try JSONRPCMessage(bytes)
        let lenient = ContinuousClock.now - lenientStart
        let strictStart = ContinuousClock.now
        _ = try JSONRPCMessage(bytes, memberNames: .strict)
        let strict = ContinuousClock.now - strictStart
        print("50,000 members: lenient \(lenient), strict \(strict)")
        XCTAssertLessThan(strict, .seconds(3))
        assertRefused(#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"# + members + #","K49999":0}}"#)
    }
}
