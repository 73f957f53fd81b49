import Foundation
import XCTest

@testable import BrokerKit

/// A DELETE the session store cannot record: the client is answered 503 and the session stays
/// exactly as it was (its child, its claim, its live record), so the client's retry deletes it;
/// a DELETE answered 204 is never undone by a resumption, on another replica or after a restart.
final class SessionDeleteTests: ReplicaBedTestCase {
    private var owner: SessionOwner { bed.owner }

    private func key(_ id: String) -> String { ChildPlacement.storeKey(.session(id)) }

    private func failure(deleting id: String, on host: ChildHost) async -> SessionError? {
        do {
            try await host.delete(id: id, owner: owner)
            return nil
        } catch {
            return error
        }
    }

    /// The error a DELETE meets while the store cannot end session records (repaired after).
    private func failure(deletingWhileEndsFail id: String, on host: ChildHost) async throws -> SessionError? {
        try bed.setSessionRecords(failing: .endsFail)
        let refused = await failure(deleting: id, on: host)
        try bed.setSessionRecords(failing: nil)
        return refused
    }

    private func failure(acquiring id: String, on host: ChildHost) async -> SessionError? {
        do {
            try await host.acquire(id: id, owner: owner).release()
            return nil
        } catch {
            return error
        }
    }

    func testADeleteOfARunningSessionTheStoreCannotEndIsRefusedAndKeepsItsChildAndClaim() async throws {
        let (first, placement) = try bed.replica()
        let (second, secondPlacement) = try bed.replica()
        let id = try await bed.open(first)

        let refused = try await failure(deletingWhileEndsFail: id, on: first)
        XCTAssertEqual(refused, .storeUnavailable, "a 204 would let another replica resume the live record once the claim went back")
        let served = await failure(acquiring: id, on: first)
        XCTAssertNil(served, "the session still runs here")
        let holder = await bed.replicas.holder(of: key(id))
        XCTAssertEqual(holder, placement?.identity.id, "its claim is kept")
        guard case .heldElsewhere? = await failure(acquiring: id, on: second) else { return XCTFail("resumed on another replica") }

        try await first.delete(id: id, owner: owner)
        let released = await eventually { await self.bed.replicas.holder(of: self.key(id)) == nil }
        XCTAssertTrue(released, "the retried DELETE gives the key back")
        let here = await failure(acquiring: id, on: first)
        XCTAssertEqual(here, .notFound)
        // Asked without its memo of the former holder (which would forward the request there).
        secondPlacement?.holders.forget(replicaID: try XCTUnwrap(placement?.identity.id))
        let resumed = await failure(acquiring: id, on: second)
        XCTAssertEqual(resumed, .notFound, "a deleted session is never resumed elsewhere")
    }

    func testADeleteOfASessionWithoutAChildHereIsRefusedWhileItsRecordCannotBeReadOrEnded() async throws {
        let (host, _) = try bed.replica()
        let id = try await bed.open(host)
        await host.end(.session(id), reason: .idle)
        let freed = await eventually { await self.bed.replicas.holder(of: self.key(id)) == nil }
        XCTAssertTrue(freed)

        for fault in [ReplicaTestBed.SessionRecordsFault.unreachable, .endsFail] {
            try bed.setSessionRecords(failing: fault)
            let refused = await failure(deleting: id, on: host)
            XCTAssertEqual(refused, .storeUnavailable, "\(fault): a 404 would tell the client the session is gone while it is not")
        }
        try bed.setSessionRecords(failing: nil)
        let record = try await bed.records?.liveSession(idHash: TokenHasher.hash(id))
        XCTAssertNotNil(record, "nothing was ended")
        let served = await failure(acquiring: id, on: host)
        XCTAssertNil(served, "the session resumes: the client was told its DELETE did not happen")

        try await host.delete(id: id, owner: owner)
        let gone = await failure(acquiring: id, on: host)
        XCTAssertEqual(gone, .notFound)
    }

    func testASingleProcessDeleteTheStoreCannotEndIsRefusedAndADeletedSessionNeverComesBackAfterARestart() async throws {
        let (host, _) = try bed.replica(replicaMode: false)
        let id = try await bed.open(host)

        let refused = try await failure(deletingWhileEndsFail: id, on: host)
        XCTAssertEqual(refused, .storeUnavailable, "a 204 would leave a live record that the next process resumes")
        let served = await failure(acquiring: id, on: host)
        XCTAssertNil(served, "the session still runs")

        try await host.delete(id: id, owner: owner)
        let (restarted, _) = try bed.replica(replicaMode: false)
        let resumed = await failure(acquiring: id, on: restarted)
        XCTAssertEqual(resumed, .notFound, "a deleted session does not come back after a restart")
    }
}
