import Foundation
import XCTest

/// The harness that turns a hang into a failure must itself never hang: a body stuck where
/// cancellation cannot reach it still yields `DeadlineExceeded` on time, with the diagnostics.
final class TestDeadlineTests: XCTestCase {
    func testABodyThatIgnoresCancellationStillMissesItsDeadlineOnTime() async throws {
        let never = AsyncStream<Int>.makeStream()
        let started = ContinuousClock.now
        do {
            _ = try await withDeadline(.milliseconds(200), "a stuck body", diagnostics: { "where it stood" }) {
                // Waits on a stream nobody finishes, ignoring cancellation (like a lost continuation).
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    Task { for await _ in never.stream {}; continuation.resume() }
                }
                return 1
            }
            XCTFail("a stuck body cannot finish")
        } catch let error as DeadlineExceeded {
            XCTAssertTrue("\(error)".contains("a stuck body did not finish within"), "\(error)")
            XCTAssertTrue("\(error)".contains("where it stood"), "\(error)")
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(2))
        never.continuation.finish()
    }

    func testAFastBodyPassesItsValueAndErrorsThrough() async throws {
        let value = try await withDeadline(.seconds(5), "a fast body") { 42 }
        XCTAssertEqual(value, 42)
        struct Boom: Error {}
        do {
            _ = try await withDeadline(.seconds(5), "a failing body") { () async throws -> Int in throw Boom() }
            XCTFail("the body's error must come through")
        } catch {
            XCTAssertTrue(error is Boom, "\(error)")
        }
    }
}
