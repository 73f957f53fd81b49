import XCTest

@testable import BrokerKit

final class AsyncPermitsTests: XCTestCase {
    private actor Occupancy {
        private(set) var current = 0
        private(set) var peak = 0
        func enter() { current += 1; peak = max(peak, current) }
        func leave() { current -= 1 }
    }

    func testNoMoreThanTheCountOfBodiesRunAtOnce() async throws {
        let permits = AsyncPermits(2)
        let occupancy = Occupancy()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await permits.run {
                        await occupancy.enter()
                        try await Task.sleep(for: .milliseconds(10))
                        await occupancy.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        let peak = await occupancy.peak
        XCTAssertLessThanOrEqual(peak, 2)
        XCTAssertGreaterThanOrEqual(peak, 1)
    }

    func testABodyThatThrowsGivesItsPermitBack() async throws {
        struct Failure: Error {}
        let permits = AsyncPermits(1)
        do {
            try await permits.run { throw Failure() }
            XCTFail("the body's error")
        } catch is Failure {}
        // With the only permit lost, this would wait forever.
        let value = try await permits.run { 7 }
        XCTAssertEqual(value, 7)
    }
}
