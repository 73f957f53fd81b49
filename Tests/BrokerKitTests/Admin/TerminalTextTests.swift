import BrokerKit
import XCTest

/// What the admin commands' tables print of client-chosen text.
final class TerminalTextTests: XCTestCase {
    func testControlsEscapesNewlinesAndBidiControlsAreShownEscaped() {
        XCTAssertEqual(TerminalText.escaped("evil\u{1B}]0;pwned\u{07}\u{1B}[2J"), #"evil\u{1B}]0;pwned\u{7}\u{1B}[2J"#)
        XCTAssertEqual(TerminalText.escaped("a\nb\rc\td\u{0}"), #"a\u{A}b\u{D}c\u{9}d\u{0}"#)
        XCTAssertEqual(TerminalText.escaped("x\u{7F}\u{9B}31m"), #"x\u{7F}\u{9B}31m"#, "DEL and the C1 CSI")
        XCTAssertEqual(TerminalText.escaped("get_\u{202E}txt.exe\u{2066}\u{2069}\u{200F}\u{61C}"),
                       #"get_\u{202E}txt.exe\u{2066}\u{2069}\u{200F}\u{61C}"#)
        XCTAssertEqual(TerminalText.escaped("line\u{2028}para\u{2029}"), #"line\u{2028}para\u{2029}"#)
    }

    func testInvisibleFormatCharactersAreShownEscaped() {
        XCTAssertEqual(TerminalText.escaped("get\u{200B}_issue"), "get\\u{200B}_issue")
        XCTAssertEqual(TerminalText.escaped("\u{FEFF}a\u{2060}b\u{200D}"), "\\u{FEFF}a\\u{2060}b\\u{200D}")
    }

    func testOrdinaryTextIsUnchangedAndBackslashesCannotForgeAnEscape() {
        for text in ["alice", "https://app.example/client.json", "\"req-1\"", "Zoë ✓ 🙂", "e\u{301}", ""] {
            XCTAssertEqual(TerminalText.escaped(text), text)
        }
        XCTAssertEqual(TerminalText.escaped(#"a\u{1B}"#), #"a\\u{1B}"#, "a literal backslash is doubled")
        XCTAssertNotEqual(TerminalText.escaped(#"\u{1B}"#), TerminalText.escaped("\u{1B}"))
    }
}
