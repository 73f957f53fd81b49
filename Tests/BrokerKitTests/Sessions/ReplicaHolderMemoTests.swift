import Foundation
import XCTest

@testable import BrokerKit

/// The memo of live holders on the forwarding path: an entry lasts a fifth of the lapse and
/// never past the holder's own lapse, is forgotten per holder, and the memo stays bounded.
final class ReplicaHolderMemoTests: XCTestCase {
    private let start = Date(timeIntervalSince1970: 1_800_000_000)

    private func holder(_ id: String, beatAt: Date) -> ReplicaRecord {
        ReplicaRecord(id: id, address: "http://\(id).test", startedAt: beatAt, heartbeatAt: beatAt)
    }

    func testAnEntryLastsAFifthOfTheLapseAndNeverPastTheHoldersLapse() {
        let memo = ReplicaHolderMemo(lapse: .seconds(10))
        let fresh = holder("a", beatAt: start)
        memo.remember(fresh, for: "session:x", now: start)
        XCTAssertEqual(memo.holder(of: "session:x", now: start.addingTimeInterval(1.9)), fresh)
        XCTAssertNil(memo.holder(of: "session:x", now: start.addingTimeInterval(2)), "a fifth of the lapse")
        XCTAssertNil(memo.holder(of: "session:y", now: start))

        // Its last beat 9 s ago: it lapses in 1 s, and so does the entry.
        let old = holder("b", beatAt: start.addingTimeInterval(-9))
        memo.remember(old, for: "user:1", now: start)
        XCTAssertEqual(memo.holder(of: "user:1", now: start.addingTimeInterval(0.9)), old)
        XCTAssertNil(memo.holder(of: "user:1", now: start.addingTimeInterval(1)))
        // Already lapsed: not remembered at all.
        memo.remember(holder("c", beatAt: start.addingTimeInterval(-11)), for: "user:2", now: start)
        XCTAssertNil(memo.holder(of: "user:2", now: start))
    }

    func testForgettingAHolderForgetsEveryKeyItHeld() {
        let memo = ReplicaHolderMemo(lapse: .seconds(10))
        memo.remember(holder("a", beatAt: start), for: "session:x", now: start)
        memo.remember(holder("a", beatAt: start), for: "user:1", now: start)
        memo.remember(holder("b", beatAt: start), for: "user:2", now: start)
        memo.forget(replicaID: "a")
        XCTAssertNil(memo.holder(of: "session:x", now: start))
        XCTAssertNil(memo.holder(of: "user:1", now: start))
        XCTAssertEqual(memo.holder(of: "user:2", now: start)?.id, "b")
    }

    func testTheMemoIsBounded() {
        let memo = ReplicaHolderMemo(lapse: .seconds(10))
        for index in 0..<ReplicaHolderMemo.capacity {
            memo.remember(holder("a", beatAt: start), for: "user:\(index)", now: start)
        }
        memo.remember(holder("a", beatAt: start), for: "user:full", now: start)
        XCTAssertNil(memo.holder(of: "user:full", now: start), "full of live entries: the new key asks the store")
        // Once the entries lapsed they make room.
        let later = start.addingTimeInterval(3)
        memo.remember(holder("a", beatAt: later), for: "user:later", now: later)
        XCTAssertNotNil(memo.holder(of: "user:later", now: later))
    }
}
