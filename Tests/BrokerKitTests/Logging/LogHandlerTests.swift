import Foundation
import Logging
import XCTest

@testable import BrokerKit

final class LogHandlerTests: XCTestCase {
    private struct Failure: Error, CustomStringConvertible {
        var description: String { "disk on fire" }
    }

    private func event(_ message: Logger.Message, level: Logger.Level = .info, metadata: Logger.Metadata? = nil,
                       error: (any Error)? = nil) -> LogEvent {
        LogEvent(level: level, message: message, error: error, metadata: metadata, source: nil, file: #fileID, function: #function, line: 1)
    }

    private func handler(_ format: BrokerConfig.LogFormat, metadata: Logger.Metadata = [:]) -> BrokerLogHandler {
        var handler = BrokerLogHandler(label: "broker", level: .info, format: format)
        handler.metadata = metadata
        return handler
    }

    func testControlCharactersCannotForgeLogLines() {
        XCTAssertEqual(BrokerLogHandler.escapeControls("plain text"), "plain text")
        XCTAssertEqual(BrokerLogHandler.escapeControls("a\nfake-line level=error"), "a\\nfake-line level=error")
        XCTAssertEqual(BrokerLogHandler.escapeControls("\u{1B}[31mred\r"), "\\x1b[31mred\\r")
    }

    func testTextLineHasSortedFieldsAndRecordMetadataWins() {
        let line = handler(.text, metadata: ["request_id": "r1", "user": "logger"])
            .render(event("session opened", metadata: ["user": "alice", "age": "3"]), time: "T")
        XCTAssertEqual(line, "T info broker: session opened age=3 request_id=r1 user=alice\n")
    }

    func testTextValuesCannotPoseAsOtherFieldsOrLines() {
        let line = handler(.text).render(
            event("evil\nT error broker: forged", metadata: ["a": "x level=error", "b": #"q"uote"#, "c": #"back\"#, "d": ""]), time: "T")
        XCTAssertEqual(line.filter { $0 == "\n" }.count, 1, "one record, one line: \(line)")
        XCTAssertEqual(line, #"T info broker: evil\nT error broker: forged a="x level=error" b="q\"uote" c="back\\" d="""# + "\n")
    }

    func testJSONLineIsOneValidObjectWhoseFixedFieldsCannotBeOverridden() throws {
        let line = handler(.json, metadata: ["request_id": "r1"]).render(
            event("line\nbreak", level: .warning, metadata: ["level": "debug", "list": ["a", "b"], "nested": ["k": "v"]]), time: "T")
        XCTAssertTrue(line.hasSuffix("\n"))
        XCTAssertEqual(line.dropLast().filter { $0 == "\n" }.count, 0)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(object["level"] as? String, "warning")
        XCTAssertEqual(object["message"] as? String, "line\nbreak")
        XCTAssertEqual(object["logger"] as? String, "broker")
        XCTAssertEqual(object["time"] as? String, "T")
        XCTAssertEqual(object["request_id"] as? String, "r1")
        XCTAssertEqual(object["list"] as? [String], ["a", "b"])
        XCTAssertEqual(object["nested"] as? [String: String], ["k": "v"])
    }

    func testAnAttachedErrorIsLoggedUnlessMetadataNamesOne() {
        let text = handler(.text)
        XCTAssertEqual(text.render(event("failed", error: Failure()), time: "T"), #"T info broker: failed error="disk on fire""# + "\n")
        XCTAssertEqual(text.render(event("failed", metadata: ["error": "explicit"], error: Failure()), time: "T"),
                       "T info broker: failed error=explicit\n")
    }
}
