import XCTest

@testable import BrokerWire

/// The byte-level object reader and writer the per-request paths use instead of a Foundation
/// round trip: what they read must be what a JSON parser reads, and what they copy must be the
/// bytes as written.
final class JSONObjectViewTests: XCTestCase {
    private func view(_ text: String) throws -> JSONObjectView {
        try XCTUnwrap(JSONObjectView(Array(text.utf8)), text)
    }

    func testMembersAreReadByDecodedNameAndType() throws {
        let object = try view(#" {"a\u0062":"x\"y","flag":true,"off":false,"n":-32002.0,"list":["u",1],"inner":{},"nil":null} "#)
        XCTAssertEqual(object.string("ab"), "x\"y", "escaped names and values are decoded")
        XCTAssertEqual(object.bool("flag"), true)
        XCTAssertEqual(object.bool("off"), false)
        XCTAssertNil(object.bool("n"), "a number is not a boolean")
        XCTAssertTrue(object.number("n", equals: -32002))
        XCTAssertFalse(object.number("flag", equals: 1))
        XCTAssertEqual(try XCTUnwrap(object.object("inner")).isEmpty, true)
        XCTAssertNil(object.object("list"))
        XCTAssertEqual(object.elements(at: try XCTUnwrap(object["list"]))?.count, 2)
        XCTAssertNil(object.string("nil"))
        XCTAssertNotNil(object["nil"], "a null member is present")
        XCTAssertNil(object["missing"])
        XCTAssertEqual(object.raw("n"), Array("-32002.0".utf8), "values are kept as written")
    }

    func testAnythingButOneValidObjectIsRefused() {
        for text in ["[]", "\"x\"", "{\"a\":1", "{\"a\":1} {}", "{\"a\" 1}", ""] {
            XCTAssertNil(JSONObjectView(Array(text.utf8)), text)
        }
    }

    func testTheWriterCopiesMembersAsWrittenAndAddsRawValues() throws {
        let object = try view(#"{"keep":"a\/b", "drop":1,"also":[1.50]}"#)
        var writer = JSONObjectWriter()
        XCTAssertTrue(writer.isEmpty)
        for member in object.members where object.name(of: member) != "drop" { writer.copy(member, of: object) }
        writer.add("new\"name", raw: Array("{}".utf8))
        XCTAssertEqual(String(decoding: writer.finished(), as: UTF8.self), #"{"keep":"a\/b","also":[1.50],"new\"name":{}}"#)
        XCTAssertEqual(JSONObjectWriter().finished(), Array("{}".utf8))
    }

    func testParamsStringReadsOnlyStrings() throws {
        let message = try JSONRPCMessage(Array(#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"warn\u0069ng","data":1}}"#.utf8))
        XCTAssertEqual(message.paramsString("level"), "warning")
        XCTAssertNil(message.paramsString("data"))
        XCTAssertNil(message.paramsString("absent"))
    }
}
