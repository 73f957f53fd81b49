import XCTest

@testable import BrokerKit

/// The answers of one 2025-03-26 batch share one byte bound while they wait for the array.
final class AnswerOnlySinkTests: XCTestCase {
    private func drain(_ events: AsyncStream<BridgeEvent>) async -> [BridgeEvent] {
        var drained: [BridgeEvent] = []
        for await event in events { drained.append(event) }
        return drained
    }

    func testSideMessagesAreDroppedAndAnAnswerPastTheSharedBoundIsTheOverflowError() async throws {
        let budget = BufferBudget(limit: 100)
        let (firstEvents, first) = AsyncStream<BridgeEvent>.makeStream()
        let (secondEvents, second) = AsyncStream<BridgeEvent>.makeStream()
        let firstSink = AnswerOnlySink(continuation: first, budget: budget, rawID: Array("1".utf8))
        let secondSink = AnswerOnlySink(continuation: second, budget: budget, rawID: Array(#""two""#.utf8))
        let answer = [UInt8](repeating: 0x20, count: 60)
        XCTAssertTrue(firstSink.yield(.message([UInt8](repeating: 0x20, count: 500))), "a side message is dropped, not refused")
        XCTAssertTrue(firstSink.yield(.response(answer)))
        XCTAssertTrue(secondSink.yield(.response(answer)), "an answer is always taken")
        firstSink.finish()
        secondSink.finish()
        let kept = await drain(firstEvents)
        XCTAssertEqual(kept, [.response(answer)])
        let replaced = await drain(secondEvents)
        XCTAssertEqual(replaced, [.response(BufferBound.overflowError(rawID: Array(#""two""#.utf8), limit: 100))])
        XCTAssertEqual(firstSink.limit, 100)
    }
}
