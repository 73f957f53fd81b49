import BrokerWire
import XCTest

final class CommaSeparatedTests: XCTestCase {
    func testBlanksAroundEntriesAndEmptyEntriesAreNotEntries() {
        XCTAssertEqual(CommaSeparated.entries(" a , b,,c ,\t, "), ["a", "b", "c"])
        XCTAssertEqual(CommaSeparated.entries(""), [])
        XCTAssertEqual(CommaSeparated.entries(" , "), [])
        XCTAssertEqual(CommaSeparated.entries("org/team with spaces"), ["org/team with spaces"], "blanks inside an entry stay")
    }
}
