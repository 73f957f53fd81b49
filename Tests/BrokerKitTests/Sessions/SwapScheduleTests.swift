import XCTest

@testable import BrokerKit

/// The rotation's rule per hosted child: a newer token generation never cancels a swap already
/// running; the swap completes and at most one follow-up runs after it, for the newest
/// generation announced meanwhile.
final class SwapScheduleTests: XCTestCase {
    private let session = ChildKey.session("s1")
    private let user = ChildKey.user(7)

    func testTheFirstRequestStartsAndANewerOneWaitsForItInsteadOfReplacingIt() {
        var schedule = SwapSchedule()
        XCTAssertTrue(schedule.request(session, generation: 2))
        XCTAssertFalse(schedule.request(session, generation: 3), "a newer generation must not start a second swap")
        XCTAssertEqual(schedule.state(of: session)?.running, 2, "the running swap is kept")
        XCTAssertEqual(schedule.state(of: session)?.followUp, 3)
    }

    func testManyGenerationsDuringOneSwapCoalesceIntoOneFollowUpForTheNewest() {
        var schedule = SwapSchedule()
        XCTAssertTrue(schedule.request(session, generation: 2))
        for generation in [5, 3, 4, 2] { XCTAssertFalse(schedule.request(session, generation: Int64(generation))) }
        XCTAssertEqual(schedule.finish(session), 5, "one follow-up, for the newest generation")
        XCTAssertEqual(schedule.state(of: session)?.running, 5)
        XCTAssertNil(schedule.state(of: session)?.followUp)
        XCTAssertNil(schedule.finish(session), "nothing was asked for during the follow-up")
        XCTAssertNil(schedule.state(of: session))
    }

    func testAnOlderOrEqualGenerationIsCoveredByTheRunningSwap() {
        var schedule = SwapSchedule()
        XCTAssertTrue(schedule.request(session, generation: 4))
        XCTAssertFalse(schedule.request(session, generation: 4))
        XCTAssertFalse(schedule.request(session, generation: 1))
        XCTAssertNil(schedule.state(of: session)?.followUp)
        XCTAssertNil(schedule.finish(session))
    }

    func testAfterASwapEndsTheNextRequestStartsAgain() {
        var schedule = SwapSchedule()
        XCTAssertTrue(schedule.request(session, generation: 2))
        XCTAssertNil(schedule.finish(session))
        XCTAssertTrue(schedule.request(session, generation: 3))
    }

    func testChildrenAreScheduledIndependently() {
        var schedule = SwapSchedule()
        XCTAssertTrue(schedule.request(session, generation: 2))
        XCTAssertTrue(schedule.request(user, generation: 2), "another child's swap is not held up by this one")
        XCTAssertFalse(schedule.request(user, generation: 3))
        XCTAssertNil(schedule.finish(session))
        XCTAssertEqual(schedule.finish(user), 3)
    }

    func testFinishingAChildWithoutASwapIsHarmless() {
        var schedule = SwapSchedule()
        XCTAssertNil(schedule.finish(session))
        XCTAssertNil(schedule.state(of: session))
    }
}
