import XCTest

@testable import BrokerKit

/// A session's GET stream: one subscriber, a bounded backlog while none is open, and a bound on
/// what waits for a subscriber that stopped reading.
final class ServerStreamHubTests: XCTestCase {
    private func bytes(_ count: Int) -> [UInt8] { Array(repeating: 0x78, count: count) }

    private func drain(_ messages: AsyncStream<[UInt8]>) async -> [Int] {
        var sizes: [Int] = []
        for await message in messages { sizes.append(message.count) }
        return sizes
    }

    func testAReaderThatFallsBehindHasItsStreamClosedAndTheNextGETGetsWhatFollowed() async throws {
        let hub = ServerStreamHub(backlogLimit: 64, byteLimit: 100)
        let first = try await XCTUnwrapAsync(await hub.attach())
        await hub.publish(bytes(60))
        await hub.publish(bytes(40))
        await hub.publish(bytes(10))  // over the subscriber's bound: its stream ends
        await hub.publish(bytes(20))
        let delivered = await drain(first.messages)
        XCTAssertEqual(delivered, [60, 40], "the stream ends after what it already held")
        let second = try await XCTUnwrapAsync(await hub.attach())
        await hub.detach(second.id)
        let kept = await drain(second.messages)
        XCTAssertEqual(kept, [10, 20], "what arrived after the overflow waited for the reconnecting GET")
    }

    func testAReaderThatKeepsUpIsNeverCut() async throws {
        let hub = ServerStreamHub(byteLimit: 100)
        let subscription = try await XCTUnwrapAsync(await hub.attach())
        var iterator = subscription.messages.makeAsyncIterator()
        for _ in 0..<50 {
            await hub.publish(bytes(90))
            let message = await iterator.next()
            XCTAssertEqual(message?.count, 90)
            subscription.budget.taken(90)
        }
        XCTAssertEqual(subscription.budget.held, 0)
    }

    func testTheBacklogWithoutAStreamIsBoundedInBytesAndCount() async throws {
        let hub = ServerStreamHub(backlogLimit: 3, byteLimit: 100)
        await hub.publish(bytes(500))  // one message always fits an empty backlog
        await hub.publish(bytes(1))
        var subscription = try await XCTUnwrapAsync(await hub.attach())
        await hub.detach(subscription.id)
        let large = await drain(subscription.messages)
        XCTAssertEqual(large, [500])
        for size in [40, 40, 30, 10, 10] { await hub.publish(bytes(size)) }
        subscription = try await XCTUnwrapAsync(await hub.attach())
        await hub.detach(subscription.id)
        let kept = await drain(subscription.messages)
        XCTAssertEqual(kept, [40, 40, 10], "30 would pass the byte bound; the count bound stops at three")
    }

    /// The backlog a GET starts with is within its stream's bound, so the first live message
    /// after it is delivered, not taken for an overflow that closes the new stream.
    func testANewStreamTakesTheWholeBacklogAndStaysOpen() async throws {
        let hub = ServerStreamHub(byteLimit: 100)
        for size in [60, 40, 30] { await hub.publish(bytes(size)) }
        let subscription = try await XCTUnwrapAsync(await hub.attach())
        var iterator = subscription.messages.makeAsyncIterator()
        for expected in [60, 40] {
            let message = await iterator.next()
            XCTAssertEqual(message?.count, expected)
            subscription.budget.taken(expected)
        }
        await hub.publish(bytes(10))
        let live = await iterator.next()
        XCTAssertEqual(live?.count, 10, "the first live message reaches the new stream")
        await hub.detach(subscription.id)
        let after = await iterator.next()
        XCTAssertNil(after)
    }

    func testAClosedHubTakesNoStream() async {
        let hub = ServerStreamHub()
        await hub.close()
        let attached = await hub.attach()
        XCTAssertNil(attached)
    }

    private func XCTUnwrapAsync<T>(_ value: T?, file: StaticString = #filePath, line: UInt = #line) async throws -> T {
        try XCTUnwrap(value, file: file, line: line)
    }
}
