import Foundation
import XCTest

@testable import BrokerKit

/// Which rows at this replica's own address are a live clash: only one whose beat moves between
/// two looks; the later of two live replicas gives way, the older one says so once.
final class ReplicaAddressWatchTests: XCTestCase {
    private let address = "http://10.0.0.9:8080"
    private let start = Date(timeIntervalSince1970: 1_800_000_000)

    private func row(_ id: String, address: String? = nil, startedAt: Date, beatAt: Date) -> ReplicaRecord {
        ReplicaRecord(id: id, address: address ?? self.address, startedAt: startedAt, heartbeatAt: beatAt)
    }

    private func watch(id: String = "m", startedAt: Date? = nil) -> ReplicaAddressWatch {
        ReplicaAddressWatch(identity: ReplicaIdentity(address: address, id: id, startedAt: startedAt ?? start))
    }

    func testAPreviousLifeThatBeatsNoMoreIsNoClash() {
        var watch = watch()
        let previous = row("p", startedAt: start - 3600, beatAt: start - 1)
        for _ in 0..<3 { XCTAssertEqual(watch.observe([previous]), .none) }
    }

    func testAnOlderReplicaWhoseBeatMovesTakesTheAddress() {
        var watch = watch()
        let older = row("o", startedAt: start - 60, beatAt: start + 1)
        XCTAssertEqual(watch.observe([older]), .none, "one look cannot tell a live replica from a previous life")
        var beating = older
        beating.heartbeatAt = start + 3
        XCTAssertEqual(watch.observe([beating]), .taken(by: beating))
    }

    /// Beat times are compared only with the same row's earlier beats: a replica whose clock is
    /// an hour behind is still seen beating, and a stale row stamped by a clock ahead is not.
    func testBeatTimesAreNeverComparedWithThisProcesssClock() {
        var watch = watch()
        let behind = row("o", startedAt: start - 7200, beatAt: start - 3600)
        let ahead = row("q", startedAt: start - 7000, beatAt: start + 3600)
        XCTAssertEqual(watch.observe([behind, ahead]), .none)
        var moved = behind
        moved.heartbeatAt = start - 3598
        XCTAssertEqual(watch.observe([moved, ahead]), .taken(by: moved))
    }

    /// A later replica is said at first sight (it stops within a beat or two), once, and never
    /// makes this one give way.
    func testALaterReplicaIsReportedOnceAtFirstSightAndNeverTakesTheAddress() {
        var watch = watch()
        var later = row("l", startedAt: start + 5, beatAt: start + 5)
        XCTAssertEqual(watch.observe([later]), .sharedWithLater(later))
        for beat in [7.0, 9] {
            later.heartbeatAt = start + beat
            XCTAssertEqual(watch.observe([later]), .none, "said once")
        }
    }

    func testOtherAddressesAndItsOwnRowAreIgnored() {
        var watch = watch()
        var elsewhere = row("e", address: "http://10.0.0.8:8080", startedAt: start - 60, beatAt: start)
        let laterElsewhere = row("f", address: "http://10.0.0.8:8080", startedAt: start + 60, beatAt: start + 60)
        var own = row("m", startedAt: start, beatAt: start)
        XCTAssertEqual(watch.observe([elsewhere, laterElsewhere, own]), .none)
        elsewhere.heartbeatAt = start + 2
        own.heartbeatAt = start + 2
        XCTAssertEqual(watch.observe([elsewhere, laterElsewhere, own]), .none)
    }

    /// The store keeps start times in milliseconds: two replicas started in one millisecond are
    /// ordered by id on both sides, so exactly one of them gives way.
    func testStartsInOneMillisecondAreOrderedByIdOnBothSides() {
        let a = ReplicaIdentity(address: address, id: "a", startedAt: start + 0.0002)
        let b = ReplicaIdentity(address: address, id: "b", startedAt: start + 0.0007)
        let stored = { (identity: ReplicaIdentity, beat: Double) in
            self.row(identity.id, startedAt: Date(timeIntervalSince1970: Double(identity.startedAt.epochMilliseconds) / 1_000),
                     beatAt: self.start + beat)
        }
        var watchA = ReplicaAddressWatch(identity: a)
        var watchB = ReplicaAddressWatch(identity: b)
        XCTAssertEqual(watchA.observe([stored(b, 1)]), .sharedWithLater(stored(b, 1)))
        XCTAssertEqual(watchB.observe([stored(a, 1)]), .none)
        XCTAssertEqual(watchA.observe([stored(b, 2)]), .none)
        XCTAssertEqual(watchB.observe([stored(a, 2)]), .taken(by: stored(a, 2)))
    }
}
