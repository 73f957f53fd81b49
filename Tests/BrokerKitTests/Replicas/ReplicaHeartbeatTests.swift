import Foundation
import Logging
import ServiceLifecycle
import XCTest

@testable import BrokerKit

/// The heartbeat service: readiness follows the last beat, beats that stop reaching the store
/// for longer than the lapse end every local child, and a clean stop removes the replica (its
/// claims with it) only after its children stopped.
final class ReplicaHeartbeatTests: ReplicaBedTestCase {

    private func heartbeat(_ host: ChildHost, _ placement: ChildPlacement?) throws -> ReplicaHeartbeat {
        ReplicaHeartbeat(placement: try XCTUnwrap(placement), host: host, logger: Logger(label: "heartbeat-tests"))
    }

    /// A local child is not served (503, the client retries) once the last beat is as old as
    /// the fence age, a beat interval before the lapse: the others may soon run it.
    func testALocalChildIsNotServedOnceTheBeatIsTooOld() async throws {
        let (host, placement) = try bed.replica()
        let placed = try XCTUnwrap(placement)
        XCTAssertLessThanOrEqual(placed.fenceAge + ReplicaTestBed.heartbeat, ReplicaTestBed.lapse)
        let id = try await bed.open(host)
        let lease = try await host.acquireUserChild(owner: bed.owner)
        await lease.release()
        bed.clock.advance(by: placed.fenceAge - .milliseconds(1))
        _ = try await host.lookup(id: id, owner: bed.owner)
        try await host.acquireUserChild(owner: bed.owner).release()

        bed.clock.advance(by: .milliseconds(1))
        await bed.replicas.setFailing(true)
        do {
            _ = try await host.lookup(id: id, owner: bed.owner)
            XCTFail("a local session child is not served once the beat is too old")
        } catch {
            XCTAssertEqual(error, .storeUnavailable)
        }
        do {
            _ = try await host.acquireUserChild(owner: bed.owner)
            XCTFail("a local user child is not served once the beat is too old")
        } catch {
            XCTAssertEqual(error, .storeUnavailable)
        }
        do {
            try await host.claimHere(.user(bed.owner.userID))
            XCTFail("an MRTR retry is not served here once the beat is too old")
        } catch {
            XCTAssertEqual(error, .storeUnavailable)
        }
        let kept = await host.childCount
        XCTAssertEqual(kept, 2, "the children stay until the watchdog ends them")

        await bed.replicas.setFailing(false)
        _ = try await placed.beat()
        _ = try await host.lookup(id: id, owner: bed.owner)
    }

    /// A beat stuck on a dead connection: the watchdog alone ends every local child at the fence
    /// age. The beat timeout is far longer than the test, so no timed-out beat can do it instead.
    func testTheWatchdogAloneFencesEveryLocalChildWhileABeatHangs() async throws {
        let (host, placement) = try bed.replica(beatTimeout: .seconds(600))
        let placed = try XCTUnwrap(placement)
        let (group, running) = try await runBeating(host, placed)

        await bed.replicas.setHanging(.beat, true)
        let hung = await eventually { await self.bed.replicas.hungCalls > 0 }
        XCTAssertTrue(hung, "a beat is stuck in the store")
        bed.clock.advance(by: placed.fenceAge)
        let fenced = await eventually { await host.sessionCount + host.userChildCount == 0 }
        XCTAssertTrue(fenced, "the watchdog ends every local child although the beat never returns")
        let stillHung = await bed.replicas.hungCalls
        XCTAssertGreaterThan(stillHung, 0, "the beat had not given up: the watchdog fenced")

        await bed.replicas.setHanging(.beat, false)
        await group.triggerGracefulShutdown()
        try await running.value
    }

    /// While beats hang, no child is claimed: a claim needs a fresh beat first, and each beat
    /// gives up after the beat timeout (503, the client retries).
    func testNoChildIsClaimedWhileBeatsHang() async throws {
        let (host, placement) = try bed.replica()
        let placed = try XCTUnwrap(placement)
        let (group, running) = try await runBeating(host, placed)

        await bed.replicas.setHanging(.beat, true)
        bed.clock.advance(by: placed.fenceAge)
        let fenced = await eventually { await host.sessionCount + host.userChildCount == 0 }
        XCTAssertTrue(fenced, "every local child ends")
        let claims = await bed.replicas.claims
        do {
            _ = try await host.acquireUserChild(owner: bed.owner)
            XCTFail("no child starts while beats hang")
        } catch {
            XCTAssertEqual(error, .storeUnavailable)
        }
        let claimed = await bed.replicas.claims
        XCTAssertEqual(claimed, claims, "no claim without a fresh beat")

        await bed.replicas.setHanging(.beat, false)
        await group.triggerGracefulShutdown()
        try await running.value
    }

    /// Runs the heartbeat service until the test stops it, once its first beat was written and
    /// a session and a user child run locally.
    private func runBeating(_ host: ChildHost, _ placed: ChildPlacement) async throws -> (ServiceGroup, Task<Void, any Error>) {
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [.init(service: try heartbeat(host, placed))],
                                                                          logger: Logger(label: "heartbeat-tests")))
        let running = Task { try await group.run() }
        let beaten = await eventually { placed.lastBeat != nil }
        XCTAssertTrue(beaten, "the first beat is written at once")
        _ = try await bed.open(host)
        try await host.acquireUserChild(owner: bed.owner).release()
        let started = await host.sessionCount + host.userChildCount
        XCTAssertEqual(started, 2)
        return (group, running)
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

    /// A store that cannot list the replicas makes the check wait for the next beat: nothing is
    /// thrown, and what was seen before is kept, so the clash is found once the store answers.
    func testAnAddressCheckTheStoreCannotAnswerWaitsForTheNextBeat() async throws {
        let address = "http://10.0.0.9:8080"
        let (_, olderPlacement) = try bed.replica(address: address)
        let older = try XCTUnwrap(olderPlacement)
        _ = try await older.beat()
        bed.clock.advance(by: .seconds(1))
        let (host, placement) = try bed.replica(address: address)
        let heartbeat = try heartbeat(host, placement)
        var watch = ReplicaAddressWatch(identity: try XCTUnwrap(placement).identity)
        try await heartbeat.checkAddress(&watch)
        bed.clock.advance(by: .seconds(1))
        _ = try await older.beat()

        await bed.replicas.setFailing(true)
        try await heartbeat.checkAddress(&watch)
        await bed.replicas.setFailing(false)
        do {
            try await heartbeat.checkAddress(&watch)
            XCTFail("the older replica beat between two looks the store answered")
        } catch {
            XCTAssertEqual(error.other.id, older.identity.id)
        }
    }

    /// The later replica at a taken address stops as at a clean stop (children ended, row and
    /// claims removed, so the older one can take its sessions over at once) and says why.
    func testAReplicaAtATakenAddressEndsItsChildrenLeavesAndThrows() async throws {
        let address = "http://10.0.0.9:8080"
        let (_, olderPlacement) = try bed.replica(address: address)
        let older = try XCTUnwrap(olderPlacement)
        bed.clock.advance(by: .seconds(1))
        let (host, placement) = try bed.replica(address: address)
        let id = try await bed.open(host)
        // The older replica beats on (its beat time moves by a millisecond at each).
        let clock = bed.clock
        let beating = Task {
            while !Task.isCancelled {
                clock.advance(by: .milliseconds(1))
                _ = try? await older.beat()
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { beating.cancel() }

        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [.init(service: try heartbeat(host, placement))],
                                                                          logger: Logger(label: "heartbeat-tests")))
        let running = Task { try await group.run() }
        let outcome = await race(until: .now + .seconds(10)) { await running.result }
        if outcome == nil {
            await group.triggerGracefulShutdown()
            _ = await running.result
        }
        guard case .failure(let error as ReplicaAddressTaken)? = outcome else {
            return XCTFail("the heartbeat service stops with the reason, not \(String(describing: outcome))")
        }
        XCTAssertEqual(error.other.id, older.identity.id)
        let (children, left, holder) = (await host.childCount, try await bed.replicas.replicas(),
                                        await bed.replicas.holder(of: ChildPlacement.storeKey(.session(id))))
        XCTAssertEqual(children, 0)
        XCTAssertEqual(left.map(\.id), [older.identity.id])
        XCTAssertNil(holder, "the older replica takes the session over at its next request")
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
