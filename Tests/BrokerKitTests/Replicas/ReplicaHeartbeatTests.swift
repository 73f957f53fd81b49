import Foundation
import Logging
import ServiceLifecycle
import XCTest

@testable import BrokerKit

/// The heartbeat service: readiness follows the last beat, beats that stop reaching the store
/// for longer than the lapse end every local child, and a clean stop removes the replica (its
/// claims with it) only after its children stopped.
final class ReplicaHeartbeatTests: XCTestCase {
    private let bed = ReplicaTestBed()

    override func setUp() async throws {
        try await bed.setUp(self)
    }

    override func tearDown() async throws {
        try await bed.tearDown()
    }

    private func heartbeat(_ host: ChildHost, _ placement: ChildPlacement?) throws -> ReplicaHeartbeat {
        ReplicaHeartbeat(placement: try XCTUnwrap(placement), host: host, interval: .milliseconds(50), logger: Logger(label: "heartbeat-tests"))
    }

    func testReadinessFollowsTheLastBeatAndLapsedBeatsEndEveryLocalChild() async throws {
        let (host, placement) = try bed.replica()
        let heartbeat = try heartbeat(host, placement)
        let check = try XCTUnwrap(placement?.readinessCheck)
        XCTAssertEqual(check.name, "replica_heartbeat")
        do {
            try await check.probe()
            XCTFail("not ready before the first beat")
        } catch {}
        let failures = await heartbeat.beat(after: 0)
        XCTAssertEqual(failures, 0)
        try await check.probe()
        let lease = try await host.acquireUserChild(owner: bed.owner)
        await lease.release()
        _ = try await bed.open(host)

        await bed.replicas.setFailing(true)
        let first = await heartbeat.beat(after: 0)
        XCTAssertEqual(first, 1)
        let kept = await host.childCount
        XCTAssertEqual(kept, 2, "a failed beat within the lapse keeps the children")
        bed.clock.advance(by: ReplicaTestBed.lapse)
        let second = await heartbeat.beat(after: first)
        XCTAssertEqual(second, 2)
        let (sessions, userChildren) = (await host.sessionCount, await host.userChildCount)
        XCTAssertEqual(sessions + userChildren, 0, "after the lapse the others may have taken every child over")
        do {
            try await check.probe()
            XCTFail("not ready with a lapsed heartbeat")
        } catch {}
    }

    func testACleanStopRemovesTheReplicaAfterItsChildrenStopped() async throws {
        let (host, placement) = try bed.replica()
        let heartbeat = try heartbeat(host, placement)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [.init(service: heartbeat)], logger: Logger(label: "heartbeat-tests")))
        let running = Task { try await group.run() }
        let beaten = await eventually { placement?.lastBeat != nil }
        XCTAssertTrue(beaten, "the first beat is written at once")
        let id = try await bed.open(host)
        let rows = try await bed.replicas.replicas()
        XCTAssertEqual(rows.map(\.id), [placement?.identity.id])

        await group.triggerGracefulShutdown()
        try await running.value
        let (children, left, holder) = (await host.childCount, try await bed.replicas.replicas(),
                                        await bed.replicas.holder(of: ChildPlacement.storeKey(.session(id))))
        XCTAssertEqual(children, 0)
        XCTAssertEqual(left, [])
        XCTAssertNil(holder, "the others take the session over at its next request")
    }
}
