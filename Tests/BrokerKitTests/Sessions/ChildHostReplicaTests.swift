import Foundation
import Logging
import Synchronization
import XCTest

@testable import BrokerKit

/// ChildHost in replica mode with real demo children, an in-memory replica store and one SQLite
/// session store shared by two hosts (two replicas): a child starts only where its key is
/// claimed, another live replica's key is `heldElsewhere` without a spawn, a lapsed holder's
/// session is taken over with its recorded handshake, claims go back when children end, and a
/// child whose key another replica took is ended by the next beat.
final class ChildHostReplicaTests: ReplicaBedTestCase {
    private var owner: SessionOwner { bed.owner }
    private var replicas: InMemoryReplicaStore { bed.replicas }
    private var clock: TestWallClock { bed.clock }
    private var records: SQLiteStore? { bed.records }
    static let lapse = ReplicaTestBed.lapse

    private func replica(replicaMode: Bool = true) throws -> (ChildHost, ChildPlacement?) {
        try bed.replica(replicaMode: replicaMode)
    }

    private func open(_ host: ChildHost) async throws -> String {
        try await bed.open(host)
    }

    private func key(_ id: String) -> String { ChildPlacement.storeKey(.session(id)) }

    /// A session opened on `host` whose child was then reaped (its claim given back).
    private func reapedSession(on host: ChildHost) async throws -> String {
        let id = try await open(host)
        await host.end(.session(id), reason: .idle)
        let freed = await eventually { await self.replicas.holder(of: self.key(id)) == nil }
        XCTAssertTrue(freed, "an idle reap gives the key back")
        return id
    }

    /// The error a request on `id` meets on `host`, or nil when it was served.
    private func failure(acquiring id: String, on host: ChildHost) async -> SessionError? {
        do {
            let lease = try await host.acquire(id: id, owner: owner)
            await lease.release()
            return nil
        } catch {
            return error
        }
    }

    func testASessionStartsWhereItsKeyIsClaimedAndIsHeldElsewhereOnAnotherLiveReplicaWithoutASpawn() async throws {
        let (first, placementA) = try replica()
        let (second, _) = try replica()
        let id = try await open(first)
        let holder = await replicas.holder(of: key(id))
        XCTAssertEqual(holder, placementA?.identity.id)
        XCTAssertTrue(key(id).hasPrefix("session:") && !key(id).contains(id), "the store key carries the id's hash, never the id")

        let error = await failure(acquiring: id, on: second)
        guard case .heldElsewhere(let record)? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(record.id, placementA?.identity.id)
        XCTAssertEqual(record.address, "http://10.0.0.1:8080")
        do {
            _ = try await second.lookup(id: id, owner: owner)
            XCTFail("a GET stream of a session another live replica holds is forwarded, not opened here")
        } catch {
            XCTAssertEqual(error, .heldElsewhere(record))
        }
        let spawned = await second.childCount
        XCTAssertEqual(spawned, 0, "no child starts on a replica that does not hold the key")
        do {
            try await second.delete(id: id, owner: owner)
            XCTFail("a DELETE of a session another live replica holds is forwarded, not done here")
        } catch {
            guard case .heldElsewhere = error else { return XCTFail("\(error)") }
        }
        let stillLive = try await records?.liveSession(idHash: TokenHasher.hash(id))
        XCTAssertNotNil(stillLive, "the record is not ended under the holder's running child")
    }

    /// A forwarded session's requests do not ask the store again while the memo lasts (a claim
    /// per forwarded call queued on the key's row lock); a holder the hop could not reach is
    /// forgotten, and the next request asks again.
    func testAHolderNamedByTheStoreIsRememberedUntilTheHopForgetsIt() async throws {
        let (first, placementA) = try replica()
        let (second, placementB) = try replica()
        let id = try await open(first)
        let before = await replicas.claims
        for _ in 0..<5 {
            guard case .heldElsewhere? = await failure(acquiring: id, on: second) else { return XCTFail("served on the second replica") }
        }
        let asked = await replicas.claims - before
        XCTAssertEqual(asked, 1, "one claim, then the memo")
        placementB?.holders.forget(replicaID: try XCTUnwrap(placementA?.identity.id))
        guard case .heldElsewhere? = await failure(acquiring: id, on: second) else { return XCTFail("served on the second replica") }
        let askedAgain = await replicas.claims - before
        XCTAssertEqual(askedAgain, 2, "a forgotten holder is asked about again")
    }

    func testALapsedHoldersSessionIsTakenOverWithItsHandshakeAndFencedOnTheOldHolder() async throws {
        let (first, placementA) = try replica()
        let (second, placementB) = try replica()
        let id = try await open(first)
        let original = try await first.lookup(id: id, owner: owner)

        // The first replica's beats stop arriving; the second's go on.
        clock.advance(by: Self.lapse + .seconds(1))
        _ = try await placementB?.beat()
        let served = await failure(acquiring: id, on: second)
        XCTAssertNil(served, "a lapsed holder's session resumes on the replica the request reached")
        let resumed = try await second.lookup(id: id, owner: owner)
        XCTAssertEqual(resumed.sessionID, id)
        XCTAssertEqual(resumed.handshake.initialize, original.handshake.initialize, "resumed with the recorded initialize")
        let holder = await replicas.holder(of: key(id))
        XCTAssertEqual(holder, placementB?.identity.id)

        // The first replica's next beat learns its key was taken: its child ends, the record lives on.
        let beaten = try await placementA?.beat()
        let beat = try XCTUnwrap(beaten)
        XCTAssertFalse(beat.held.contains(key(id)))
        await first.fence(held: beat.held, beatIssuedAt: beat.issuedAt)
        let left = await first.sessionCount
        XCTAssertEqual(left, 0)
        let record = try await records?.liveSession(idHash: TokenHasher.hash(id))
        XCTAssertNotNil(record, "fencing frees the child here, never ends the session")
        let stillHolder = await replicas.holder(of: key(id))
        XCTAssertEqual(stillHolder, placementB?.identity.id, "the fenced replica does not release a claim that is not its own")
    }

    /// A user child taken over ends here with its listen streams and parked MRTR calls, so
    /// their clients reconnect (to the new holder) instead of waiting on a silent stream.
    func testAFencedUserChildEndsItsListenStreamsAndParkedCalls() async throws {
        let (host, placement) = try replica()
        let scoped = ScopedWorkRecorder()
        host.register(scoped)
        var filter = ListenFilter()
        filter.toolsListChanged = true
        let (_, notifications, _) = try await host.listen(owner: owner, filter: filter)
        let listening = await host.listenerCount(userID: owner.userID)
        XCTAssertEqual(listening, 1)

        await replicas.assign(ChildPlacement.storeKey(.user(owner.userID)), to: "replica-b", at: clock.now)
        let beaten = try await placement?.beat()
        let beat = try XCTUnwrap(beaten)
        await host.fence(held: beat.held, beatIssuedAt: beat.issuedAt)
        let (children, listeners) = (await host.userChildCount, await host.listenerCount(userID: owner.userID))
        XCTAssertEqual(children, 0)
        XCTAssertEqual(listeners, 0)
        let ended = await withTimeout(.seconds(10)) { () async -> Bool? in
            for await _ in notifications {}
            return !Task.isCancelled
        }
        XCTAssertEqual(ended, true, "the listen stream ends, so its client reconnects")
        let endedWork = await scoped.ended
        XCTAssertEqual(endedWork.map(\.userID), [owner.userID], "the user's parked calls end")
        XCTAssertEqual(endedWork.map(\.clientID), [nil])
    }

    /// A resume reads the record again once it holds the key: a DELETE on the former holder may
    /// have ended it between the first read and the claim, and the session must stay ended.
    func testAResumeReadsTheRecordAgainAfterItsClaim() async throws {
        let (host, _) = try replica()
        let id = try await reapedSession(on: host)

        await replicas.setHanging(.claim, true)
        let owner = owner
        let resumed = Task { () -> SessionError? in
            do throws(SessionError) {
                try await host.acquire(id: id, owner: owner).release()
                return nil
            } catch {
                return error
            }
        }
        let claiming = await eventually { await self.replicas.hungCalls == 1 }
        XCTAssertTrue(claiming, "the resume read the live record and waits for its claim")
        try await records?.endSession(idHash: TokenHasher.hash(id), reason: SessionEndReason.clientDeleted.label, now: Date())
        await replicas.setHanging(.claim, false)
        let error = await resumed.value
        XCTAssertEqual(error, .notFound, "a session ended meanwhile is not brought back")
        let (sessions, children) = (await host.sessionCount, await host.childCount)
        XCTAssertEqual(sessions + children, 0, "no child started for it")
        let released = await eventually { await self.replicas.holder(of: self.key(id)) == nil }
        XCTAssertTrue(released, "its claim goes back")
    }

    /// A DELETE is answered once the record's end is in the store, and gives the key back only
    /// after that: a replica that claims the key next reads the record ended and never resumes
    /// the session. Both are checked at the moment they happen (when `delete` returns, and
    /// inside the store's release), so no wait decides the outcome; a write that could not be
    /// made is `SessionDeleteTests`'.
    func testADeletedSessionsClaimGoesBackOnlyAfterItsRecordEnded() async throws {
        let (host, _) = try replica()
        let id = try await open(host)
        let (records, key, idHash) = (try XCTUnwrap(records), key(id), TokenHasher.hash(id))
        let liveAtRelease = Mutex<[Bool?]>([])
        await replicas.setBeforeRelease { released in
            guard released == key else { return }
            let live: Bool?  // nil: the record could not be read
            do { live = try await records.liveSession(idHash: idHash) != nil } catch { live = nil }
            liveAtRelease.withLock { $0.append(live) }
        }

        try await host.delete(id: id, owner: owner)
        let atAnswer = try await records.liveSession(idHash: idHash)
        XCTAssertNil(atAnswer, "the record is ended when the DELETE is answered")
        let released = await eventually { await self.replicas.holder(of: key) == nil }
        XCTAssertTrue(released)
        XCTAssertEqual(liveAtRelease.withLock { $0 }, [false], "the record was ended before the claim went back")
    }

    func testAChildClaimedAfterABeatWasSentIsNotFencedByIt() async throws {
        let (host, placement) = try replica()
        let beaten = try await placement?.beat()
        let beat = try XCTUnwrap(beaten)
        _ = try await open(host)
        await host.fence(held: beat.held, beatIssuedAt: beat.issuedAt)
        let count = await host.sessionCount
        XCTAssertEqual(count, 1)
    }

    func testTheClaimGoesBackWhenTheChildIsReapedDeletedCrashesOrIsRevoked() async throws {
        let (host, _) = try replica()
        let reaped = try await open(host)
        await host.end(.session(reaped), reason: .idle)
        let freed = await eventually { await self.replicas.holder(of: self.key(reaped)) == nil }
        XCTAssertTrue(freed, "an idle reap gives the key back")
        // Resumed here again: claimed again.
        let again = await failure(acquiring: reaped, on: host)
        XCTAssertNil(again)
        let reclaimed = await replicas.holder(of: key(reaped))
        XCTAssertNotNil(reclaimed)

        try await host.delete(id: reaped, owner: owner)
        let deleted = await eventually { await self.replicas.holder(of: self.key(reaped)) == nil }
        XCTAssertTrue(deleted, "a DELETE gives the key back")

        let crashing = try await open(host)
        let child = try await host.lookup(id: crashing, owner: owner)
        let running = await child.child.pid
        let pid = try XCTUnwrap(running)
        kill(pid, SIGKILL)
        let crashed = await eventually { await self.replicas.holder(of: self.key(crashing)) == nil }
        XCTAssertTrue(crashed, "a crashed child gives the key back")

        let revoked = try await open(host)
        await host.endUser(1, reason: .adminRevoked)
        let released = await eventually { await self.replicas.holder(of: self.key(revoked)) == nil }
        XCTAssertTrue(released, "a revocation gives the key back")
    }

    func testASwapKeepsTheClaim() async throws {
        let (host, placement) = try replica()
        let id = try await open(host)
        let outcome = await host.replaceChild(.session(id), generation: nil, drain: .milliseconds(100))
        XCTAssertEqual(outcome, .swapped)
        let drained = await eventually { await host.childCount == 1 }
        XCTAssertTrue(drained, "the replaced child stopped")
        let (holder, releases) = (await replicas.holder(of: key(id)), await replicas.releases)
        XCTAssertEqual(holder, placement?.identity.id)
        XCTAssertEqual(releases, 0)
    }

    func testConcurrentFirstRequestsForAUserChildMakeOneClaimAndOneStartAndLocalRequestsNone() async throws {
        let (host, _) = try replica()
        let owner = self.owner
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    if let lease = try? await host.acquireUserChild(owner: owner) { await lease.release() }
                }
            }
        }
        let (claims, children) = (await replicas.claims, await host.childCount)
        XCTAssertEqual(claims, 1)
        XCTAssertEqual(children, 1)
        for _ in 0..<3 {
            let lease = try await host.acquireUserChild(owner: owner)
            await lease.release()
            try await host.claimHere(.user(1))
        }
        let afterLocal = await replicas.claims
        XCTAssertEqual(afterLocal, 1, "a key with a local child is served without the store")
    }

    func testConcurrentRequestsResumingASessionMakeOneClaimAndOneStart() async throws {
        let (host, _) = try replica()
        let id = try await reapedSession(on: host)
        let before = await replicas.claims
        let owner = self.owner
        let served = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    guard let lease = try? await host.acquire(id: id, owner: owner) else { return false }
                    await lease.release()
                    return true
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        XCTAssertEqual(served, 6)
        let (claims, children) = (await replicas.claims, await host.childCount)
        XCTAssertEqual(claims - before, 1)
        XCTAssertEqual(children, 1)
    }

    func testClaimHereForwardsAKeyHeldElsewhereAndKeepsNoClaimWithoutAChild() async throws {
        let (first, placementA) = try replica()
        let (second, _) = try replica()
        let lease = try await first.acquireUserChild(owner: owner)
        await lease.release()
        do {
            try await second.claimHere(.user(1))
            XCTFail("the parked calls of user 1 live on the first replica")
        } catch {
            XCTAssertEqual(error, .heldElsewhere(try XCTUnwrap(placementA?.identity.record(beatAt: clock.now))))
        }
        try await second.claimHere(.user(2))
        let kept = await eventually { await self.replicas.holder(of: "user:2") == nil }
        XCTAssertTrue(kept, "no claim is kept for a user without a child here")
    }

    func testNothingIsClaimedOnceShuttingDown() async throws {
        let (host, _) = try replica()
        await host.shutdown()
        do {
            try await host.claimHere(.user(1))
            XCTFail("the replica's row goes at the end of its shutdown; a claim made now would outlive it")
        } catch {
            XCTAssertEqual(error, .shuttingDown)
        }
        let claims = await replicas.claims
        XCTAssertEqual(claims, 0)
    }

    func testAStoreThatCannotBeReachedIsUnavailableAndSingleProcessModeNeverAsks() async throws {
        let (host, _) = try replica()
        await replicas.setFailing(true)
        let initialize = try JSONRPCMessage(Array(
            #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#.utf8))
        do {
            _ = try await host.open(owner: owner, initialize: initialize)
            XCTFail("no child starts without a claim")
        } catch {
            XCTAssertEqual(error, .storeUnavailable)
        }
        let children = await host.childCount
        XCTAssertEqual(children, 0)

        let (single, _) = try replica(replicaMode: false)
        let id = try await open(single)
        await single.end(.session(id), reason: .idle)
        let served = await failure(acquiring: id, on: single)
        XCTAssertNil(served)
        let claims = await replicas.claims
        XCTAssertEqual(claims, 0)
    }
}

/// Records which users' client-scoped work (parked MRTR calls) the host ended.
private actor ScopedWorkRecorder: ClientScopedWork {
    private(set) var ended: [(userID: Int64, clientID: String?)] = []

    func end(userID: Int64, clientID: String?) async {
        ended.append((userID, clientID))
    }

    func endAll() async {}
}
