import XCTest

@testable import BrokerKit

final class WithTimeoutTests: XCTestCase {
    /// Work that answers long before the deadline is never reported as timed out. The timer it
    /// cancels used to answer nil from its cancelled sleep, sometimes before the work's own
    /// answer (a metadata document's name lookup "timed out" after 54 ms of a 10 s deadline).
    func testRaceGivesTheWorksAnswerWhenItComesFirst() async {
        var timedOut = 0
        for round in 0..<50_000 {
            let answer = await race(until: .now + .seconds(10)) { round }
            if answer != round { timedOut += 1 }
        }
        XCTAssertEqual(timedOut, 0)
    }

    func testRaceGivesNilAtTheDeadlineWithoutWaitingForTheWork() async {
        let started = ContinuousClock.now
        let answer = await race(until: .now + .milliseconds(100)) { () async -> Int in
            try? await Task.sleep(for: .seconds(30))
            return 1
        }
        XCTAssertNil(answer)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(20))
    }
}
