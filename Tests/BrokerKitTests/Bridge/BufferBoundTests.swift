import XCTest

@testable import BrokerKit

/// The byte bound on what a call or stream holds for a slow reader, decided without processes.
final class BufferBoundTests: XCTestCase {
    func testMessagesFitUntilTheBoundThenTheStreamOverflowsOnceAndDropsTheRest() {
        var bound = BufferBound(limit: 100)
        XCTAssertEqual(bound.offer(60), .accept)
        XCTAssertEqual(bound.offer(40), .accept, "exactly at the bound still fits")
        XCTAssertEqual(bound.offer(1), .overflow, "one byte over ends the stream")
        XCTAssertEqual(bound.offer(1), .drop, "reported once; what follows is discarded")
        bound.taken(100)
        XCTAssertEqual(bound.offer(1), .drop, "an overflowed stream stays over even once the reader catches up")
    }

    func testWhatTheReaderTakesMakesRoom() {
        var bound = BufferBound(limit: 100)
        XCTAssertEqual(bound.offer(80), .accept)
        bound.taken(80)
        XCTAssertEqual(bound.held, 0)
        XCTAssertEqual(bound.offer(80), .accept)
        bound.taken(30)
        XCTAssertEqual(bound.offer(50), .accept)
        XCTAssertEqual(bound.held, 100)
    }

    func testOneMessageLargerThanTheBoundFitsAnEmptyBufferOnly() {
        var bound = BufferBound(limit: 100)
        XCTAssertEqual(bound.offer(500), .accept, "a single large line is the line limit's business, not this bound's")
        XCTAssertEqual(bound.offer(1), .overflow)
        var other = BufferBound(limit: 100)
        XCTAssertEqual(other.offer(1), .accept)
        XCTAssertEqual(other.offer(500), .overflow, "behind another message it does not fit")
    }

    func testTakingMoreThanHeldNeverGoesNegative() {
        var bound = BufferBound(limit: 10)
        bound.taken(5)
        XCTAssertEqual(bound.held, 0)
        XCTAssertEqual(bound.offer(10), .accept)
    }

    func testTheSharedBudgetAppliesTheBoundAcrossTasks() async {
        let budget = BufferBudget(limit: 1_000)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    for _ in 0..<10 {
                        if budget.offer(10) == .accept { budget.taken(10) }
                    }
                }
            }
        }
        XCTAssertEqual(budget.held, 0, "every accepted message was taken again")
        XCTAssertEqual(budget.offer(1_000), .accept)
        XCTAssertEqual(budget.offer(1), .overflow)
    }

    func testTheOverflowErrorAnswersTheCallersIDWithTheBound() throws {
        let error = BufferBound.overflowError(rawID: Array("7".utf8), limit: 4096)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(error)) as? [String: Any])
        XCTAssertEqual(object["id"] as? Int, 7)
        let detail = try XCTUnwrap(object["error"] as? [String: Any])
        XCTAssertEqual(detail["code"] as? Int, -32603)
        XCTAssertTrue((detail["message"] as? String)?.contains("4096 bytes") == true)
    }
}
