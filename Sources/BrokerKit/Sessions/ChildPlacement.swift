import Foundation
import Logging
import Synchronization

/// Where this replica may run children when several replicas share one database (replica
/// mode): every child key is claimed in the store before its child starts and released when it
/// ends, so exactly one replica runs a session's (or a user's) child. `ChildHost` owns one; nil
/// there is the single-process broker, which touches none of this.
///
/// It also keeps this replica's heartbeat state: a claim is only made, and a local child only
/// served, while the replica's own last beat is younger than ``fenceAge``, since the other
/// replicas take over the children of a replica whose beat they have not seen for the lapse.
public final class ChildPlacement: Sendable {
    public let identity: ReplicaIdentity
    let store: any ReplicaStore
    /// A replica whose beat is older than this is presumed dead (`FJMCP_REPLICA_LAPSE`).
    public let lapse: Duration
    /// How often the heartbeat service beats (`FJMCP_REPLICA_HEARTBEAT`).
    public let heartbeat: Duration
    /// A beat the store has not answered within this is given up (and the next one tried): a
    /// connection to a vanished database can hang for minutes, and the watchdog must not wait.
    let beatTimeout: Duration
    /// Once the last beat is this old, every local child ends and none is served: strictly
    /// before the lapse, when the others may take the children over. A beat interval earlier,
    /// since the watchdog looks only every quarter interval, less a quarter interval for its
    /// wake-up running late on a loaded machine.
    let fenceAge: Duration
    /// Wall-clock time for the store's timestamps; injected so tests can let a lapse pass.
    let now: @Sendable () -> Date
    let logger: Logger

    private struct Beats {
        /// The beat time of the last beat the store took.
        var last: Date?
        /// The beat being written, shared by whoever needs one meanwhile.
        var pending: Task<Beat, any Error>?
        /// Numbers the beats, so a beat given up (timed out) never clears its successor.
        var serial = 0
    }

    /// One beat the store took.
    struct Beat: Sendable {
        /// The keys the store says this replica holds.
        let held: Set<String>
        /// When it was sent: claims that completed before were visible to it.
        let issuedAt: ContinuousClock.Instant
    }

    private let beats = Mutex(Beats())
    /// Holders the store named lately: requests for their keys are forwarded without asking again.
    public let holders: ReplicaHolderMemo

    /// `beatTimeout` is half the heartbeat unless given (tests lengthen it to show that the
    /// watchdog alone fences).
    public init(identity: ReplicaIdentity, store: any ReplicaStore, lapse: Duration, heartbeat: Duration, logger: Logger,
                beatTimeout: Duration? = nil, now: @escaping @Sendable () -> Date = { Date() }) {
        self.identity = identity
        self.store = store
        self.lapse = lapse
        self.heartbeat = heartbeat
        self.beatTimeout = beatTimeout ?? heartbeat / 2
        fenceAge = lapse - heartbeat - heartbeat / 4
        self.logger = logger
        self.now = now
        holders = ReplicaHolderMemo(lapse: lapse)
    }

    /// The child's key in the store: the session id only as its hash (as in the sessions
    /// table), never in clear.
    static func storeKey(_ key: ChildKey) -> String {
        switch key {
        case .session(let id): sessionKey(idHash: TokenHasher.hash(id))
        case .user(let userID): "user:\(userID)"
        }
    }

    /// A session's key from the hash of its id (what its record holds).
    static func sessionKey(idHash: String) -> String {
        "session:\(idHash)"
    }

    /// The user of a `user:<id>` key; nil for any other key.
    static func userID(ofKey key: String) -> Int64? {
        guard key.hasPrefix("user:") else { return nil }
        return Int64(key.dropFirst("user:".count))
    }

    // MARK: - Heartbeat

    /// Writes a beat, or joins the one being written; throws ``ReplicaBeatTimedOut`` when the
    /// store did not answer within ``beatTimeout``.
    func beat() async throws -> Beat {
        let (task, serial) = beats.withLock { state in
            if let pending = state.pending { return (pending, state.serial) }
            state.serial += 1
            let serial = state.serial
            // Cleared by the task under the same lock, which it can take only after this
            // closure stored it.
            let task = Task { [self] () async throws -> Beat in
                defer { beats.withLock { if $0.serial == serial { $0.pending = nil } } }
                let issuedAt = ContinuousClock.now
                let at = now()
                let held = try await store.beat(identity.record(beatAt: at))
                beats.withLock { $0.last = max($0.last ?? at, at) }
                return Beat(held: held, issuedAt: issuedAt)
            }
            state.pending = task
            return (task, serial)
        }
        guard let beat = try await race(until: .now + beatTimeout, { await task.result })?.get() else {
            // The next beat is a new write (perhaps on a new connection), not a wait on this one.
            beats.withLock { if $0.serial == serial { $0.pending = nil } }
            throw ReplicaBeatTimedOut(timeout: beatTimeout)
        }
        return beat
    }

    /// The beat time of the last beat the store took; nil before the first.
    public var lastBeat: Date? { beats.withLock { $0.last } }

    /// Whether this replica may run and serve children: its last beat is younger than
    /// ``fenceAge``, so the others cannot have taken any of them over. A lock read: it guards
    /// every request served by a local child.
    var isServing: Bool {
        guard let last = lastBeat else { return false }
        return now().timeIntervalSince(last) < fenceAge.seconds
    }

    /// Throws `.storeUnavailable` (503, the client retries) while this replica is not
    /// ``isServing``: its local children are being ended, as another replica may run them soon.
    func checkServing() throws(SessionError) {
        guard isServing else { throw .storeUnavailable }
    }

    /// `/readyz` in replica mode: a replica whose beats do not reach the store may have lost its
    /// children to the others and must not take new requests.
    public var readinessCheck: ReadinessCheck {
        ReadinessCheck(name: "replica_heartbeat", required: true) { [self] in
            guard isServing else { throw ReplicaHeartbeatLapsed(lastBeat: lastBeat) }
        }
    }

    /// A clean stop: the row and every claim go, so the others take this replica's sessions
    /// over at their next request instead of after the lapse. Only once no child runs here.
    func leave() async {
        do {
            try await store.removeReplica(id: identity.id)
        } catch {
            logger.warning("replica row not removed; the others take its children over after the lapse", metadata: [
                "replica_id": "\(identity.id)", "error": "\(error)",
            ])
        }
    }

    // MARK: - Claims

    /// Claims `key` for this replica: returns when it may start the child, throws
    /// `.heldElsewhere` when another live replica holds it and `.storeUnavailable` when the store
    /// cannot say (or this replica's own beat cannot be written first).
    func claim(_ key: ChildKey) async throws(SessionError) {
        try checkKnownHolder(key)
        if !isServing {
            do {
                _ = try await beat()
            } catch {
                logger.error("replica heartbeat not written; no child is claimed", metadata: ["error": "\(error)"])
                throw .storeUnavailable
            }
        }
        let at = now()
        let claim: ChildClaim
        do {
            claim = try await store.claimChild(key: Self.storeKey(key), replicaID: identity.id, now: at,
                                               lapsedBefore: at.addingTimeInterval(-lapse.seconds))
        } catch {
            logger.error("child claim failed", metadata: ["kind": "\(key.kind)", "error": "\(error)"])
            throw .storeUnavailable
        }
        if case .heldBy(let holder) = claim {
            holders.remember(holder, for: Self.storeKey(key), now: at)
            throw .heldElsewhere(holder)
        }
    }

    /// Throws `.heldElsewhere` when the store named another holder of `key` lately (see
    /// ``ReplicaHolderMemo``): the request is forwarded without reading the store again.
    func checkKnownHolder(_ key: ChildKey) throws(SessionError) {
        if let holder = holders.holder(of: Self.storeKey(key), now: now()) { throw .heldElsewhere(holder) }
    }

    /// Gives `key` up after its child ended here. A failure is only logged: the claim then lapses
    /// with this replica, or is released by its clean stop, and until then this replica answers
    /// for the key (it resumes the child there if a request arrives).
    func release(_ key: ChildKey) async {
        do {
            try await store.releaseChild(key: Self.storeKey(key), replicaID: identity.id)
        } catch {
            logger.warning("child claim not released", metadata: ["kind": "\(key.kind)", "error": "\(error)"])
        }
    }
}

/// A beat the store did not answer within the placement's beat timeout.
struct ReplicaBeatTimedOut: Error, CustomStringConvertible {
    let timeout: Duration

    var description: String { "the store did not answer the heartbeat within \(timeout)" }
}

/// `/readyz`'s reason when this replica's heartbeat is older than the fence age (or never written).
struct ReplicaHeartbeatLapsed: Error, CustomStringConvertible {
    let lastBeat: Date?

    var description: String {
        lastBeat.map { "last replica heartbeat written at \($0)" } ?? "no replica heartbeat written yet"
    }
}
