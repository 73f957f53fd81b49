import BrokerKit
import XCTest

/// When upstream truth probes: coalescing of doubts, the per-user spacing, the refresh-grant
/// limit and the periodic rule, on instants the test chooses.
final class UpstreamTruthScheduleTests: XCTestCase {
    private let t0 = ContinuousClock.now
    private let alice: Int64 = 1
    private let bob: Int64 = 2

    private func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int(seconds * 1000)) }

    /// Without the periodic spread, so the tests of the other rules see exact instants.
    private func schedule(periodic: Duration = .seconds(300)) -> UpstreamTruthSchedule {
        UpstreamTruthSchedule(settings: .init(doubtSpacing: .seconds(2), refreshGrantSpacing: .seconds(180), periodicInterval: periodic,
                                              periodicSpread: 0))
    }

    func testFirstDoubtProbesAtOnce() {
        var schedule = schedule()
        XCTAssertEqual(schedule.doubt(userID: alice, cause: .failedCall, now: at(0)), .probe(userID: alice, cause: .failedCall))
    }

    func testDoubtsDuringAProbeAreCoalescedIntoOneProbeAtTheEndOfTheWindow() {
        var schedule = schedule()
        _ = schedule.doubt(userID: alice, cause: .failedCall, now: at(0))
        XCTAssertNil(schedule.doubt(userID: alice, cause: .failedCall, now: at(0.1)))
        XCTAssertNil(schedule.doubt(userID: alice, cause: .failedCall, now: at(0.2)))
        // The probe ended before the window did: one wake-up at its end.
        XCTAssertEqual(schedule.probeEnded(userID: alice, now: at(0.3)), .wake(userID: alice, at: at(2)))
        XCTAssertNil(schedule.doubt(userID: alice, cause: .failedCall, now: at(1)), "already waiting for the window's end")
        XCTAssertEqual(schedule.wakeUp(userID: alice, now: at(2)), .probe(userID: alice, cause: .failedCall))
        XCTAssertNil(schedule.probeEnded(userID: alice, now: at(2.1)), "nothing is left to check")
    }

    func testADoubtAfterAProbeInsideTheWindowWaitsForTheWindowsEnd() {
        var schedule = schedule()
        _ = schedule.doubt(userID: alice, cause: .failedCall, now: at(0))
        XCTAssertNil(schedule.probeEnded(userID: alice, now: at(0.2)))
        XCTAssertEqual(schedule.doubt(userID: alice, cause: .failedCall, now: at(1.5)), .wake(userID: alice, at: at(2)))
        XCTAssertEqual(schedule.wakeUp(userID: alice, now: at(2)), .probe(userID: alice, cause: .failedCall))
    }

    func testADoubtAfterTheWindowProbesAtOnce() {
        var schedule = schedule()
        _ = schedule.doubt(userID: alice, cause: .failedCall, now: at(0))
        _ = schedule.probeEnded(userID: alice, now: at(0.2))
        XCTAssertEqual(schedule.doubt(userID: alice, cause: .failedCall, now: at(2)), .probe(userID: alice, cause: .failedCall))
    }

    func testAProbeOutlastingTheWindowIsFollowedAtOnceByThePendingDoubt() {
        var schedule = schedule()
        _ = schedule.doubt(userID: alice, cause: .failedCall, now: at(0))
        XCTAssertNil(schedule.doubt(userID: alice, cause: .failedCall, now: at(1)))
        XCTAssertEqual(schedule.probeEnded(userID: alice, now: at(5)), .probe(userID: alice, cause: .failedCall))
    }

    func testAWakeUpWhileAProbeRunsWaitsForThatProbe() {
        var schedule = schedule()
        _ = schedule.doubt(userID: alice, cause: .failedCall, now: at(0))
        _ = schedule.probeEnded(userID: alice, now: at(0.1))
        XCTAssertEqual(schedule.doubt(userID: alice, cause: .failedCall, now: at(1)), .wake(userID: alice, at: at(2)))
        XCTAssertEqual(schedule.wakeUp(userID: alice, now: at(2)), .probe(userID: alice, cause: .failedCall))
        XCTAssertNil(schedule.doubt(userID: alice, cause: .failedCall, now: at(2.5)))
        XCTAssertEqual(schedule.probeEnded(userID: alice, now: at(2.6)), .wake(userID: alice, at: at(4)))
    }

    func testUsersAreLimitedIndependently() {
        var schedule = schedule()
        _ = schedule.doubt(userID: alice, cause: .failedCall, now: at(0))
        XCTAssertEqual(schedule.doubt(userID: bob, cause: .failedCall, now: at(0.1)), .probe(userID: bob, cause: .failedCall))
    }

    func testBrokerRefreshesDoubtAtMostOncePerSpacing() {
        var schedule = schedule()
        XCTAssertEqual(schedule.doubt(userID: alice, cause: .brokerRefresh, now: at(0)), .probe(userID: alice, cause: .brokerRefresh))
        _ = schedule.probeEnded(userID: alice, now: at(0.1))
        XCTAssertNil(schedule.doubt(userID: alice, cause: .brokerRefresh, now: at(60)))
        XCTAssertNil(schedule.doubt(userID: alice, cause: .brokerRefresh, now: at(179)))
        XCTAssertEqual(schedule.doubt(userID: alice, cause: .brokerRefresh, now: at(180)), .probe(userID: alice, cause: .brokerRefresh))
        // A failed call is never held back by the refresh limit.
        _ = schedule.probeEnded(userID: alice, now: at(180.1))
        XCTAssertEqual(schedule.doubt(userID: alice, cause: .failedCall, now: at(183)), .probe(userID: alice, cause: .failedCall))
    }

    func testTrackedUsersAreProbedOnceAnIntervalPassedSinceTheirLastProbe() {
        var schedule = schedule(periodic: .seconds(300))
        XCTAssertEqual(schedule.periodic(tracked: [alice], now: at(0)), [], "first seen: its token was just checked by a start")
        XCTAssertEqual(schedule.periodic(tracked: [alice], now: at(299)), [])
        XCTAssertEqual(schedule.periodic(tracked: [alice], now: at(300)), [.probe(userID: alice, cause: .periodic)])
        XCTAssertEqual(schedule.periodic(tracked: [alice], now: at(301)), [], "its probe is still running")
        _ = schedule.probeEnded(userID: alice, now: at(301))
        // A doubt's probe counts as the last probe.
        _ = schedule.doubt(userID: alice, cause: .failedCall, now: at(400))
        _ = schedule.probeEnded(userID: alice, now: at(400.1))
        XCTAssertEqual(schedule.periodic(tracked: [alice], now: at(600)), [])
        XCTAssertEqual(schedule.periodic(tracked: [alice], now: at(700)), [.probe(userID: alice, cause: .periodic)])
    }

    func testUntrackedUsersAreNotProbedPeriodically() {
        var schedule = schedule(periodic: .seconds(10))
        _ = schedule.periodic(tracked: [alice], now: at(0))
        XCTAssertEqual(schedule.periodic(tracked: [], now: at(20)), [])
        XCTAssertEqual(schedule.periodic(tracked: [bob], now: at(40)), [])
        XCTAssertEqual(schedule.periodic(tracked: [bob], now: at(50)), [.probe(userID: bob, cause: .periodic)])
    }

    /// Users first seen in one tick (a restart) probe at their own instants within half an
    /// interval after the first one, keep that phase, and get the same instants in every run.
    func testUsersFirstSeenTogetherAreSpreadAndKeepTheirPhase() {
        func probeTimes(_ users: Set<Int64>) -> [Int64: [Int]] {
            var schedule = UpstreamTruthSchedule(settings: .init(periodicInterval: .seconds(100)))
            var times: [Int64: [Int]] = [:]
            for second in 0...260 {
                for case .probe(let userID, .periodic) in schedule.periodic(tracked: users, now: at(Double(second))) {
                    times[userID, default: []].append(second)
                    _ = schedule.probeEnded(userID: userID, now: at(Double(second)))
                }
            }
            return times
        }
        let users = Set(Int64(1)...Int64(40))
        let times = probeTimes(users)
        XCTAssertEqual(Set(times.keys), users)
        let first = times.values.compactMap(\.first)
        XCTAssertTrue(first.allSatisfy { (100...150).contains($0) }, "\(first.sorted())")
        XCTAssertGreaterThan(Set(first).count, 20, "spread over many ticks: \(first.sorted())")
        XCTAssertLessThan(first.reduce(0) { $0 + ($1 == first.min() ? 1 : 0) }, 5, "not everyone in the first tick")
        for (userID, probes) in times {
            XCTAssertEqual(probes.count, 2, "user \(userID): \(probes)")
            XCTAssertEqual(probes.last.map { $0 - probes[0] }, 100, "one interval later, same phase")
        }
        XCTAssertEqual(probeTimes(users), times, "deterministic")
    }

    func testForgettingAUserEndsItsLimits() {
        var schedule = schedule()
        _ = schedule.doubt(userID: alice, cause: .failedCall, now: at(0))
        schedule.forget(userID: alice)
        XCTAssertNil(schedule.probeEnded(userID: alice, now: at(0.1)))
        XCTAssertEqual(schedule.doubt(userID: alice, cause: .failedCall, now: at(0.5)), .probe(userID: alice, cause: .failedCall))
    }

    func testAnUntrackedUsersLimitsOutliveTheirChildren() {
        var schedule = schedule()
        _ = schedule.doubt(userID: alice, cause: .brokerRefresh, now: at(0))
        _ = schedule.probeEnded(userID: alice, now: at(0.1))
        _ = schedule.periodic(tracked: [], now: at(1))
        XCTAssertEqual(schedule.doubt(userID: alice, cause: .failedCall, now: at(1.5)), .wake(userID: alice, at: at(2)))
        XCTAssertNil(schedule.doubt(userID: alice, cause: .brokerRefresh, now: at(100)))
    }
}
