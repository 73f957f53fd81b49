@testable import BrokerKit
import XCTest

final class LogHandlerTests: XCTestCase {
    func testControlCharactersCannotForgeLogLines() {
        XCTAssertEqual(BrokerLogHandler.escapeControls("plain text"), "plain text")
        XCTAssertEqual(BrokerLogHandler.escapeControls("a\nfake-line level=error"), "a\\nfake-line level=error")
        XCTAssertEqual(BrokerLogHandler.escapeControls("\u{1B}[31mred\r"), "\\x1b[31mred\\r")
    }
}
