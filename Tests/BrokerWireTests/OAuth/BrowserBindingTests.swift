import XCTest

@testable import BrokerWire

final class BrowserBindingTests: XCTestCase {
    func testOnlyTheBrokersShapeIsWellFormed() {
        let made = Base64URL.encode([UInt8](0..<32))
        XCTAssertTrue(BrowserBinding.isWellFormed(made))
        for value in ["", String(made.dropLast()), made + "A", String(made.dropLast()) + "=", String(made.dropLast()) + "+",
                      String(made.dropLast()) + "é", String(repeating: " ", count: 43)] {
            XCTAssertFalse(BrowserBinding.isWellFormed(value), value)
        }
    }
}
