import XCTest

@testable import BrokerKit

/// When a hosted child ends without anyone asking, decided without processes.
final class ReapPolicyTests: XCTestCase {
    private let policy = ReapPolicy(idleTimeout: .seconds(60), maxLifetime: .seconds(3600))

    private func facts(_ key: ChildKey, age: Int, idle: Int, inFlight: Int = 0, listeners: Bool = false) -> ReapPolicy.Facts {
        ReapPolicy.Facts(key: key, age: .seconds(age), idle: .seconds(idle), inFlight: inFlight, hasListeners: listeners)
    }

    func testASessionEndsWhenIdleOrAtItsLifetimeEvenWhileBusy() {
        XCTAssertNil(policy.decide(facts(.session("s"), age: 100, idle: 30)))
        XCTAssertEqual(policy.decide(facts(.session("s"), age: 100, idle: 61)), .idle)
        XCTAssertNil(policy.decide(facts(.session("s"), age: 100, idle: 61, inFlight: 1)), "a busy session is never idle")
        XCTAssertEqual(policy.decide(facts(.session("s"), age: 3601, idle: 0, inFlight: 2)), .maxLifetime,
                       "the lifetime bounds the conversation, busy or not")
    }

    func testAUserChildWaitsForItsRequestsAndStaysWhileListenedTo() {
        XCTAssertNil(policy.decide(facts(.user(1), age: 3601, idle: 0, inFlight: 1)), "its age limit waits until it is idle")
        XCTAssertEqual(policy.decide(facts(.user(1), age: 3601, idle: 0)), .maxLifetime)
        XCTAssertEqual(policy.decide(facts(.user(1), age: 100, idle: 61)), .idle)
        XCTAssertNil(policy.decide(facts(.user(1), age: 100, idle: 61, listeners: true)), "it is what would announce changes")
    }
}
