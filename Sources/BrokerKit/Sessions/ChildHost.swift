import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The one owner of every child process of the broker. A legacy session (its own child, the
/// client's own `initialize`) and a user's shared child (the broker's `initialize`, used by every
/// 2026-07-28 request of that user) are two kinds of lease on it; both are capped together,
/// started with their handshake, watched for exit, reaped, rotated onto new Forgejo tokens and
/// stopped here, and nowhere else. Runs as a `Service` so that the broker's `ServiceGroup` stops
/// every child before the process exits.
public actor ChildHost: Service {
    struct Entry {
        let child: HostedChild
        let serial: Int
        var lastActivity: ContinuousClock.Instant
        /// Requests being answered right now; a child with any is never idle.
        var inFlight: Int
        /// The clients that used it (a session has exactly one; a user child any of the user's).
        var clients: Set<String>
    }

    /// A user child whose token has less left than this is replaced before it takes a request
    /// (the request could outlast the token), unless the token's lifetime gives a margin of its
    /// own (`HostedChild.isNearExpiry`). Rotation normally replaces it long before.
    static let credentialMargin: TimeInterval = 60

    public nonisolated let limits: SessionRegistryLimits
    let spawner: ChildSpawner
    /// Child starts per user (`limits.spawnRate`), checked in `start`.
    let spawnLimiter: RateLimiter
    let tokens: any UpstreamTokenProvider
    let logger: Logger
    var entries: [ChildKey: Entry] = [:]
    private var nextSerial = 0
    /// Spawns in progress per user: they count against the caps before they exist.
    private var starting: [Int64: Int] = [:]
    /// One start per user child, shared by concurrent first requests.
    var userStarts: [Int64: Task<HostedChild, any Error>] = [:]
    private var stopping: [Int: Task<Void, Never>] = [:]
    private(set) var shuttingDown = false
    /// The newest token generation announced per user (see `childrenToSwap`).
    private var newestGeneration: [Int64: Int64] = [:]
    /// Children that started with a token older than one already announced: their spawn fetched
    /// the token just before a refresh, and they were not there yet to be swapped with the rest.
    public nonisolated let staleChildren: AsyncStream<StaleChild>
    private let staleContinuation: AsyncStream<StaleChild>.Continuation
    /// Calls running on user children, by child serial (revocation, input attribution).
    var calls: [Int: [ObjectIdentifier: RunningCall]] = [:]
    /// `subscriptions/listen` streams and per-user resource subscription counts (see `+Listen`).
    var listeners: [Int: Listener] = [:]
    var nextListenerID = 0
    var resourceRefs: [Int64: [String: Int]] = [:]
    /// Work of the MCP layer that lives per user and client (parked calls): ended on revocation.
    private nonisolated let scopedWork = Mutex<[any ClientScopedWork]>([])
    /// Whether a user still has a live grant; the user child is ended with their last one.
    private let hasLiveGrant: @Sendable (Int64) async -> Bool
    /// Where legacy session records live; without it sessions end with their child.
    let records: (any BrokerStore)?
    /// Resumptions in progress by session id: concurrent requests on one id start one child.
    var resumptions: [String: Task<Void, any Error>] = [:]
    /// Why this process freed recent sessions' children (idle, evicted, crashed): a resumption
    /// says which. Bounded; an id not here was resumed after a restart.
    var freed = FreedSessions(capacity: 4096)
    /// The `initialize` result the child command gave per requested protocol version, so that a
    /// new session is answered without a spawn; its child starts at the first request.
    var initializeResults: [String: ChildServerInfo] = [:]
    /// Replica mode: where children may run (claims in the store); nil runs every child here.
    let placement: ChildPlacement?
    /// When each local key's claim completed (replica mode): a beat sent earlier cannot know it.
    var claimedAt: [ChildKey: ContinuousClock.Instant] = [:]
    /// Claims being given back per key (see `+Replicas`).
    var releases: [ChildKey: PendingRelease] = [:]
    var nextReleaseSerial = 0

    public init(limits: SessionRegistryLimits, launcher: ChildLauncher, tokens: any UpstreamTokenProvider, logger: Logger,
                records: (any BrokerStore)? = nil, hasLiveGrant: @escaping @Sendable (Int64) async -> Bool = { _ in true },
                doubts: (any UpstreamDoubts)? = nil, placement: ChildPlacement? = nil) {
        self.placement = placement
        self.limits = limits
        spawnLimiter = RateLimiter(policy: limits.spawnRate)
        self.spawner = ChildSpawner(launcher: launcher, tokens: tokens, initializeTimeout: limits.initializeTimeout,
                                    maxBufferedEventBytes: limits.maxBufferedEventBytes, logger: logger, doubts: doubts)
        self.tokens = tokens
        self.logger = logger
        self.records = records
        self.hasLiveGrant = hasLiveGrant
        (staleChildren, staleContinuation) = AsyncStream<StaleChild>.makeStream()
    }

    public nonisolated func register(_ work: any ClientScopedWork) {
        scopedWork.withLock { $0.append(work) }
    }

    // MARK: - Service

    public func run() async throws {
        let reaper = Task { [weak self, limits] in
            while !Task.isCancelled {
                try? await Task.sleep(for: limits.reapInterval)
                await self?.reap()
            }
        }
        try? await gracefulShutdown()
        reaper.cancel()
        await shutdown()
    }

    // MARK: - Starting

    /// Opens a legacy session. When the child command's answer to this `initialize` is known,
    /// the session is only recorded and answered at once: its child starts at its first request
    /// (an `initialize` loop costs no processes). Otherwise a child is spawned for `owner` with
    /// their Forgejo token and gets the client's `initialize`; the session exists only if the
    /// child answered with a result.
    public func open(owner: SessionOwner, initialize: JSONRPCMessage) async throws(SessionError) -> SessionOpening {
        guard !shuttingDown else { throw .shuttingDown }
        let id = Base64URL.encode(OpaqueToken.randomBytes(24))
        let requested = Self.requestedVersion(initialize)
        if let rawID = initialize.rawID, let known = initializeResults[requested],
            await record(id, owner: owner, initialize: initialize.bytes, protocolVersion: known.protocolVersion)
        {
            let version = known.protocolVersion
            SessionMetrics.initializeWithoutSpawn()
            freed.insert(id, cause: .deferred)
            logger.info("session opened; its child starts at its first request", metadata: [
                "session_id": "\(id)", "user": "\(owner.login)", "client_id": "\(owner.clientID)", "protocol_version": "\(version)",
            ])
            return .opened(sessionID: id, initializeResponse: JSONRPCEnvelope.result(rawID: rawID, result: known.result))
        }
        let outcome = try await placed(.session(id)) { () async throws(SessionError) in
            try makeRoom(for: owner.userID)
            return try await start(.session(id), owner: owner, handshake: ChildHandshake(initialize: initialize.bytes))
        }
        switch outcome {
        case .started(let child, let response):
            await record(id, owner: owner, initialize: initialize.bytes, protocolVersion: child.protocolVersion)
            return .opened(sessionID: id, initializeResponse: response)
        case .rejected(let response):
            return .rejected(initializeResponse: response)
        }
    }

    static func requestedVersion(_ initialize: JSONRPCMessage) -> String {
        let params = ((try? JSONSerialization.jsonObject(with: Data(initialize.bytes))) as? [String: Any])?["params"] as? [String: Any]
        return params?["protocolVersion"] as? String ?? ""
    }

    /// Writes the session's record; false without a store or when the write failed (the session
    /// then lives only as long as its child).
    @discardableResult
    private func record(_ id: String, owner: SessionOwner, initialize: [UInt8], protocolVersion: String) async -> Bool {
        guard let records, let grantID = owner.grantID else { return false }
        do {
            try await records.insertSession(SessionRecord(
                idHash: TokenHasher.hash(id), userID: owner.userID, clientID: owner.clientID, grantID: grantID,
                protocolVersion: protocolVersion, initialize: initialize, createdAt: Date()))
            return true
        } catch {
            logger.error("session record not written; the session ends with its child", metadata: [
                "session_id": "\(id)", "error": "\(error)",
            ])
            return false
        }
    }

    enum StartOutcome {
        case started(HostedChild, initializeResponse: [UInt8])
        case rejected(initializeResponse: [UInt8])
    }

    /// Spawns, performs the handshake and registers the child under `key`; counted against the
    /// caps while it starts.
    func start(_ key: ChildKey, owner: SessionOwner, handshake: ChildHandshake,
                       createdAt: ContinuousClock.Instant = .now) async throws(SessionError) -> StartOutcome {
        guard !shuttingDown else { throw .shuttingDown }
        try await admitStart(userID: owner.userID)
        starting[owner.userID, default: 0] += 1
        publishCounts()
        defer {
            starting[owner.userID, default: 1] -= 1
            if starting[owner.userID] == 0 { starting[owner.userID] = nil }
            publishCounts()
        }
        let started = ContinuousClock.now
        let outcome = try await spawner.start(label: Self.label(key), userID: owner.userID, handshake: handshake)
        guard case .started(let bridge, let credential, let server, let response) = outcome else {
            if case .rejected(let response) = outcome { return .rejected(initializeResponse: response) }
            throw .childStartFailed("the MCP server rejected initialize")
        }
        guard !shuttingDown else {
            await bridge.stop()
            throw .shuttingDown
        }
        rememberInitializeResult(server, for: handshake)
        let child = HostedChild(key: key, owner: owner, handshake: handshake, server: server, bridge: bridge, credential: credential,
                                streamByteLimit: limits.maxBufferedEventBytes, createdAt: createdAt)
        // Tracked before the child is visible, so the `untrack` of its end always follows.
        await tokens.track(userID: owner.userID)
        guard !shuttingDown else {
            await tokens.untrack(userID: owner.userID)
            await bridge.stop()
            throw .shuttingDown
        }
        if case .user = key { await child.refreshTools(timeout: limits.initializeTimeout) }
        await child.startForwarding { [weak self] child, message in await self?.unattributed(message, from: child) }
        nextSerial += 1
        entries[key] = Entry(child: child, serial: nextSerial, lastActivity: .now, inFlight: 0, clients: [owner.clientID])
        watchExit(of: child, process: bridge.child)
        if let newest = newestGeneration[owner.userID], let generation = credential.generation, generation < newest {
            staleContinuation.yield(StaleChild(key: key, generation: newest))
        }
        if case .user(let userID) = key { resubscribe(userID: userID, on: child) }
        let spawnTime = ContinuousClock.now - started
        SessionMetrics.spawned(after: spawnTime)
        publishCounts()
        let pid = await bridge.child.pid.map { "\($0)" } ?? "-"
        logger.info("\(key.noun) started", metadata: [
            "kind": "\(key.kind)", "session_id": "\(Self.sessionID(key))", "user": "\(owner.login)", "user_id": "\(owner.userID)",
            "client_id": "\(owner.clientID)", "protocol_version": "\(server.protocolVersion)", "child_pid": "\(pid)",
            "spawn_ms": "\(Self.milliseconds(spawnTime))",
        ])
        return .started(child, initializeResponse: response)
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    private static func label(_ key: ChildKey) -> String {
        switch key {
        case .session(let id): id
        case .user(let userID): "user-\(userID)-\(Base64URL.encode(OpaqueToken.randomBytes(6)))"
        }
    }

    private static func sessionID(_ key: ChildKey) -> String {
        if case .session(let id) = key { return id }
        return "-"
    }

    // MARK: - Caps

    private func count(userID: Int64) -> Int {
        entries.values.count { $0.child.owner.userID == userID } + starting[userID, default: 0]
    }

    private var total: Int { entries.count + starting.values.reduce(0, +) }

    /// Enforces the caps for one more session of `userID`, ending the least recently used idle
    /// session (the user's own first) when that makes room.
    func makeRoom(for userID: Int64) throws(SessionError) {
        guard !shuttingDown else { throw .shuttingDown }
        if count(userID: userID) >= limits.maxPerUser {
            guard let victim = oldestIdleSession(where: { $0.owner.userID == userID }) else {
                throw .limitReached("this user already has \(limits.maxPerUser) active sessions")
            }
            end(victim, reason: .evicted)
        }
        if total >= limits.maxTotal {
            // Fair: at the global cap a user can only give up a child of their own, never
            // end (even resumably) another user's.
            guard let victim = oldestIdleSession(where: { $0.owner.userID == userID }) else {
                throw .limitReached("the broker already runs \(limits.maxTotal) sessions")
            }
            end(victim, reason: .evicted)
        }
    }

    /// A user child is never evicted for a session: it serves every client of its user.
    private func oldestIdleSession(where matches: (HostedChild) -> Bool) -> ChildKey? {
        entries.filter { entry in
            guard case .session = entry.key else { return false }
            return entry.value.inFlight == 0 && matches(entry.value.child)
        }.min { $0.value.lastActivity < $1.value.lastActivity }?.key
    }

    /// Unlike a session open, a user child evicts nothing: a stateless request must not end
    /// someone's session.
    private func checkRoomForUserChild(_ userID: Int64) throws(SessionError) {
        guard !shuttingDown else { throw .shuttingDown }
        guard count(userID: userID) < limits.maxPerUser else {
            throw .limitReached("this user already has \(limits.maxPerUser) active sessions")
        }
        guard total < limits.maxTotal else { throw .limitReached("the broker already runs \(limits.maxTotal) sessions") }
    }

    // MARK: - Leases

    /// The session for a request of `owner`, busy until the lease is released. Another user's
    /// (or client's) id is answered exactly like an unknown one, and logged.
    public func acquire(id: String, owner: SessionOwner, call: Bool = true) async throws(SessionError) -> ChildLease {
        let child = try await lookup(id: id, owner: owner)
        return try checkout(.session(id), child: child, call: call)
    }

    /// The session without marking it busy (GET streams do not keep a session alive). A session
    /// this process holds no child for is resumed from its record. In replica mode a local child
    /// is served only while this replica's beat is fresh (see ``ChildPlacement/isServing``).
    public func lookup(id: String, owner: SessionOwner) async throws(SessionError) -> HostedChild {
        if entries[.session(id)] == nil {
            // Before the record is read: a session another replica holds is forwarded there,
            // which checks the record itself.
            try placement?.checkKnownHolder(.session(id))
            try await resume(id, owner: owner)
        } else {
            try placement?.checkServing()
        }
        return try current(id: id, owner: owner)
    }

    func current(id: String, owner: SessionOwner) throws(SessionError) -> HostedChild {
        guard let entry = entries[.session(id)] else { throw .notFound }
        let child = entry.child
        guard child.owner.userID == owner.userID, child.owner.clientID == owner.clientID else {
            logger.warning("session id presented by someone else; answering 404", metadata: [
                "session_id": "\(id)", "owner_user_id": "\(child.owner.userID)", "owner_client_id": "\(child.owner.clientID)",
                "presented_by_user_id": "\(owner.userID)", "presented_by_client_id": "\(owner.clientID)",
            ])
            throw .notFound
        }
        return child
    }

    /// The user's shared child, started on first use (one start for concurrent first requests);
    /// busy until the lease is released.
    public func acquireUserChild(owner: SessionOwner) async throws(SessionError) -> ChildLease {
        guard !shuttingDown else { throw .shuttingDown }
        let key = ChildKey.user(owner.userID)
        if let entry = entries[key] {
            try placement?.checkServing()
            if entry.child.isNearExpiry(fallbackMargin: Self.credentialMargin) {
                _ = await replaceChild(key, generation: nil, drain: limits.drain)
            }
            if let current = entries[key] {
                entries[key]?.clients.insert(owner.clientID)
                return try checkout(key, child: current.child)
            }
        }
        let task: Task<HostedChild, any Error>
        if let pending = userStarts[owner.userID] {
            task = pending
        } else {
            try checkRoomForUserChild(owner.userID)
            task = Task {
                try await self.placed(key) { () async throws(SessionError) in
                    switch try await self.start(key, owner: owner, handshake: .broker) {
                    case .started(let child, _): return child
                    case .rejected: throw .childStartFailed("the MCP server rejected initialize")
                    }
                }
            }
            userStarts[owner.userID] = task
        }
        let result = await task.result
        if userStarts[owner.userID] == task { userStarts[owner.userID] = nil }
        switch result {
        case .success(let child):
            guard entries[key]?.child === child else { throw .childStartFailed("the MCP server process exited") }
            entries[key]?.clients.insert(owner.clientID)
            return try checkout(key, child: child)
        case .failure(let error as SessionError): throw error
        case .failure(let error): throw .childStartFailed("\(error)")
        }
    }

    /// `call`: the lease carries a request, which counts against the per-child bound; a
    /// notification or an answer (a cancellation above all) always gets through.
    /// Each request passes here and through `release`: one dictionary lookup each (a session
    /// key hashes its whole id).
    private func checkout(_ key: ChildKey, child: HostedChild, call: Bool = true) throws(SessionError) -> ChildLease {
        guard let index = entries.index(forKey: key) else { return ChildLease(host: self, key: key, child: child, serial: 0) }
        guard !call || entries.values[index].inFlight < limits.maxCallsPerChild else {
            throw .limitReached("\(limits.maxCallsPerChild) requests are already in flight on this \(key.noun)")
        }
        entries.values[index].inFlight += 1
        entries.values[index].lastActivity = .now
        return ChildLease(host: self, key: key, child: child, serial: entries.values[index].serial)
    }

    func release(_ lease: ChildLease) {
        guard let index = entries.index(forKey: lease.key), entries.values[index].serial == lease.serial else { return }
        entries.values[index].inFlight -= 1
        entries.values[index].lastActivity = .now
    }

    public var sessionCount: Int { entries.keys.count { if case .session = $0 { true } else { false } } }
    public var userChildCount: Int { entries.keys.count { if case .user = $0 { true } else { false } } }
    /// Children on this host, stopping ones included: each is a process.
    public var childCount: Int { entries.count + stopping.count }

    /// Leases held right now, over every child (0 once every request was answered or abandoned).
    public var busyCount: Int { entries.values.reduce(0) { $0 + $1.inFlight } }

    /// Requests the user's children are still working on: zero after a client closed its stream
    /// shows the cancellation reached the child (operators and tests look at this).
    public func pendingRequests(userID: Int64) async -> Int {
        var pending = 0
        for entry in entries.values where entry.child.owner.userID == userID {
            pending += await entry.child.pendingRequests
        }
        return pending
    }

    public func userChild(of userID: Int64) -> HostedChild? {
        entries[.user(userID)]?.child
    }

    // MARK: - Ending

    /// Removes the child at once (later requests get 404, or a new user child) and stops it in
    /// the background.
    public func end(_ key: ChildKey, reason: SessionEndReason) {
        end(key, reason: reason, endingRecord: reason.endsSession)
    }

    /// `endingRecord`: a session's record is ended too, in the background (false when the
    /// caller ended it already: a DELETE).
    func end(_ key: ChildKey, reason: SessionEndReason, endingRecord: Bool) {
        guard let entry = entries.removeValue(forKey: key) else { return }
        let child = entry.child
        let (logger, tokens) = (logger, tokens)
        var recordEnded: Task<Void, Never>?
        if case .session(let id) = key {
            SessionMetrics.sessionEnded(reason)
            if reason.endsSession {
                freed.insert(id, cause: .ended)
                if endingRecord { recordEnded = Task { await endRecord(id, reason: reason) } }
            } else {
                freed.insert(id, reason: reason)
            }
        }
        // Its calls end with the process: the bridge answers each with the exit.
        calls[entry.serial] = nil
        let stop = Task { [weak self] in
            let exit = await child.stop()
            await tokens.untrack(userID: child.owner.userID)
            logger.info("\(key.noun) ended", metadata: [
                "kind": "\(key.kind)", "session_id": "\(Self.sessionID(key))", "user_id": "\(child.owner.userID)",
                "reason": "\(reason.label)", "age_s": "\((ContinuousClock.now - child.createdAt).components.seconds)",
                "child_exit": "\(exit)",
            ])
            await self?.stopped(entry.serial)
        }
        stopping[entry.serial] = stop
        childEnded(key, reason: reason, stop: stop, recordEnded: recordEnded)
        publishCounts()
    }

    /// Ends everything of a user: sessions, user child, listen streams, parked calls (their
    /// Forgejo login is gone, or an operator revoked them). Returns what was ended.
    @discardableResult
    public func endUser(_ userID: Int64, reason: SessionEndReason) async -> EndedChildren {
        newestGeneration[userID] = nil
        await endRecords(userID: userID, clientID: nil, reason: reason)
        var ended = EndedChildren()
        for key in entries.keys where entries[key]?.child.owner.userID == userID {
            if case .session = key { ended.sessions += 1 } else { ended.userChildren += 1 }
            end(key, reason: reason)
        }
        endListeners(userID: userID, clientID: nil)
        await endScopedWork(userID: userID, clientID: nil)
        return ended
    }

    /// A revoked grant is exactly one client's access for one user: that client's sessions,
    /// calls, listen streams and parked calls end. The user child ends too once the user has no
    /// live grant left; while another client of theirs still has one, it keeps serving them.
    public func endClient(userID: Int64, clientID: String, reason: SessionEndReason) async {
        await endRecords(userID: userID, clientID: clientID, reason: reason)
        for (key, entry) in entries where entry.child.owner.userID == userID {
            if case .session = key, entry.child.owner.clientID == clientID { end(key, reason: reason) }
        }
        endListeners(userID: userID, clientID: clientID)
        await endScopedWork(userID: userID, clientID: clientID)
        if let entry = entries[.user(userID)] {
            await abandonCalls(onChild: entry.serial, clientID: clientID, reason: reason.label)
            entries[.user(userID)]?.clients.remove(clientID)
        }
        if entries[.user(userID)] != nil, await !hasLiveGrant(userID) {
            end(.user(userID), reason: reason)
        }
    }

    func endScopedWork(userID: Int64, clientID: String?) async {
        for work in scopedWork.withLock({ $0 }) { await work.end(userID: userID, clientID: clientID) }
    }

    /// Ends every child and waits until every one is gone.
    public func shutdown() async {
        shuttingDown = true
        endListeners(userID: nil, clientID: nil)
        for work in scopedWork.withLock({ $0 }) { await work.endAll() }
        for key in Array(entries.keys) { end(key, reason: .shutdown) }
        while let task = stopping.values.first {
            await task.value
        }
    }

    private func stopped(_ serial: Int) {
        stopping[serial] = nil
        publishCounts()
    }

    /// Ends the entry when `process` exits while it is still the entry's current child (a child
    /// replaced by a swap is stopped on purpose).
    private func watchExit(of child: HostedChild, process: ChildProcess) {
        // A callback, not a parked task: one fewer suspended task per idle session.
        process.onExit { [weak self] exit in
            await self?.childExited(child, process: process, exit: exit)
        }
    }

    /// A request could not be written to `child`'s process: it is gone, even if its exit is not
    /// reported yet. The entry ends now, so the next lease starts (or resumes) a new child.
    public func childGone(_ child: HostedChild) async {
        guard entries[child.key]?.child === child else { return }
        let exit = await child.child.exit ?? ChildExit(reason: .inputClosed, status: nil)
        end(child.key, reason: .childExited(exit))
    }

    /// A new lease on the same conversation after `childGone`: the session resumed on a new
    /// child, or the user's new child.
    public func renew(_ lease: ChildLease, owner: SessionOwner) async throws(SessionError) -> ChildLease {
        await lease.release()
        switch lease.key {
        case .session(let id): return try await acquire(id: id, owner: owner)
        case .user: return try await acquireUserChild(owner: owner)
        }
    }

    private func childExited(_ child: HostedChild, process: ChildProcess, exit: ChildExit) async {
        guard child.child === process, entries[child.key]?.child === child else { return }
        end(child.key, reason: .childExited(exit))
    }

    func reap() {
        let now = ContinuousClock.now
        let policy = ReapPolicy(idleTimeout: limits.idleTimeout, maxLifetime: limits.maxLifetime)
        for (key, entry) in entries {
            let facts = ReapPolicy.Facts(
                key: key, age: now - entry.child.createdAt, idle: now - entry.lastActivity, inFlight: entry.inFlight,
                hasListeners: hasListeners(userID: entry.child.owner.userID))
            if let reason = policy.decide(facts) { end(key, reason: reason) }
        }
    }

    private func publishCounts() {
        SessionMetrics.counts(sessions: sessionCount, userChildren: userChildCount,
                              children: entries.count + starting.values.reduce(0, +) + stopping.count)
    }

    // MARK: - Rotation

    /// The user's children (sessions and user child), to be given children with the newly
    /// announced `generation`; remembered so a child starting right now is reported on
    /// `staleChildren` if it missed it.
    public func childrenToSwap(userID: Int64, generation: Int64) -> [ChildKey] {
        newestGeneration[userID] = max(newestGeneration[userID] ?? generation, generation)
        return entries.keys.filter { entries[$0]?.child.owner.userID == userID }
    }

    /// Gives the hosted child a new process running a token of at least `generation` (nil: any
    /// fresher one, for a token close to its expiry), with its handshake replayed. The old child
    /// keeps answering what it took; on failure it keeps serving everything and the caller may
    /// try again.
    public func replaceChild(_ key: ChildKey, generation: Int64?, drain: Duration) async -> ChildSwapOutcome {
        guard !shuttingDown, let child = entries[key]?.child else { return .sessionGone }
        if let generation, let current = child.credential.generation, current >= generation { return .notNeeded }
        let started = ContinuousClock.now
        let handshake = await child.currentHandshake
        let outcome: ChildSpawner.Outcome
        do {
            outcome = try await spawner.start(label: Self.label(key), userID: child.owner.userID, handshake: handshake)
        } catch {
            return await swapFailed(child, started: started, error: error.message)
        }
        guard case .started(let bridge, let credential, _, _) = outcome else {
            return await swapFailed(child, started: started, error: "the new child rejected the replayed initialize")
        }
        guard !shuttingDown, entries[key]?.child === child,
            await child.swap(to: bridge, credential: credential, drain: drain, force: generation == nil)
        else {
            await bridge.stop()
            return entries[key] == nil ? .sessionGone : .notNeeded
        }
        watchExit(of: child, process: bridge.child)
        if case .user(let userID) = key { resubscribe(userID: userID, on: child) }
        let duration = ContinuousClock.now - started
        SessionMetrics.childSwap(.swapped, duration: duration)
        let pid = await bridge.child.pid.map { "\($0)" } ?? "-"
        logger.info("child swapped", metadata: [
            "kind": "\(key.kind)", "session_id": "\(Self.sessionID(key))", "user_id": "\(child.owner.userID)", "child_pid": "\(pid)",
            "generation": "\(credential.generation.map { "\($0)" } ?? "-")", "swap_ms": "\(Self.milliseconds(duration))",
        ])
        return .swapped
    }

    private func swapFailed(_ child: HostedChild, started: ContinuousClock.Instant, error: String) async -> ChildSwapOutcome {
        SessionMetrics.childSwap(.failed, duration: ContinuousClock.now - started)
        logger.warning("child swap failed; the old child keeps serving", metadata: [
            "kind": "\(child.key.kind)", "session_id": "\(Self.sessionID(child.key))", "user_id": "\(child.owner.userID)",
            "error": "\(error)",
        ])
        return .failed(tokenExpiresAt: child.credential.expiresAt)
    }

    // MARK: - Operators

    /// Every hosted child for the operator's `sessions` command, oldest first.
    public func summaries() async -> [ChildSummary] {
        let now = ContinuousClock.now
        var result: [ChildSummary] = []
        for (key, entry) in entries.sorted(by: { $0.value.child.createdAt < $1.value.child.createdAt }) {
            let child = entry.child
            result.append(ChildSummary(
                kind: key.kind, sessionID: Self.sessionID(key), user: child.owner.login, userID: child.owner.userID,
                clients: entry.clients.sorted(), ageSeconds: (now - child.createdAt).components.seconds,
                idleSeconds: entry.inFlight > 0 ? 0 : (now - entry.lastActivity).components.seconds, busy: entry.inFlight,
                childPID: await child.child.pid, tokenExpiresAt: child.credential.expiresAt))
        }
        return result
    }
}

/// A hosted child whose process runs an older token than `generation`, the newest announced.
public struct StaleChild: Sendable {
    public let key: ChildKey
    public let generation: Int64
}

/// What ending a user's access stopped.
public struct EndedChildren: Sendable, Equatable {
    public var sessions = 0
    public var userChildren = 0
}

/// What one attempt to give a hosted child a new process came to.
public enum ChildSwapOutcome: Sendable, Equatable {
    case swapped
    /// The child already runs this generation or a newer one.
    case notNeeded
    /// The session ended (or the broker is shutting down); nothing to do.
    case sessionGone
    /// The new child could not be started; the old one keeps serving until its token expires.
    case failed(tokenExpiresAt: Date?)
}

/// One line of the operator's `sessions` listing: a legacy session (`kind` "session") or a user's
/// shared child (`kind` "user", with every client that used it).
public struct ChildSummary: Codable, Sendable, Equatable {
    public let kind: String
    public let sessionID: String
    public let user: String
    public let userID: Int64
    public let clients: [String]
    public let ageSeconds: Int64
    public let idleSeconds: Int64
    public let busy: Int
    public let childPID: Int32?
    public let tokenExpiresAt: Date?

    enum CodingKeys: String, CodingKey {
        case kind, sessionID = "session_id", user, userID = "user_id", clients, ageSeconds = "age_s", idleSeconds = "idle_s", busy
        case childPID = "child_pid", tokenExpiresAt = "token_expires_at"
    }
}

/// Work of the MCP layer kept per user and client beyond one HTTP request (parked MRTR calls):
/// the host ends it when the access it runs on is revoked.
public protocol ClientScopedWork: Sendable {
    /// Ends the work of `clientID` (nil: of every client) of `userID`.
    func end(userID: Int64, clientID: String?) async
    /// Ends all of it (broker shutdown).
    func endAll() async
}

/// Revocation of any kind reaches every lease, stream and parked call it covers.
extension ChildHost: GrantRevocationObserver {
    public func grantRevoked(userID: Int64, clientID: String) async {
        await endClient(userID: userID, clientID: clientID, reason: .grantRevoked)
    }
}
