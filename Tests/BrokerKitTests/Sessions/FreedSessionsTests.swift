import XCTest

@testable import BrokerKit

/// Why a session's child was freed: a DELETE the store refused takes its `.ended` mark back and
/// leaves the cause noted before it, so the session's resumption is counted as what it is.
final class FreedSessionsTests: XCTestCase {
    func testTakingBackAnEndRestoresTheEarlierCause() {
        var freed = FreedSessions(capacity: 8)
        freed.insert("a", cause: .reaped)
        let previous = freed.cause(of: "a")
        freed.insert("a", cause: .ended)
        XCTAssertTrue(freed.isEnded("a"))
        freed.unmarkEnded("a", restoring: previous)
        XCTAssertFalse(freed.isEnded("a"))
        XCTAssertEqual(freed.take("a").label, "reaped")
    }

    func testTakingBackAnEndWithNoEarlierCauseForgetsTheSession() {
        var freed = FreedSessions(capacity: 8)
        freed.insert("b", cause: .ended)
        freed.unmarkEnded("b", restoring: nil)
        XCTAssertEqual(freed.take("b").label, "restart")
    }
}
