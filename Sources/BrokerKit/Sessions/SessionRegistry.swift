import Foundation
import Logging
import ServiceLifecycle

/// Every live session: opening (token, spawn, `initialize`), lookup bound to the owner, caps,
/// the idle/lifetime reaper and shutdown. Runs as a `Service` so that the broker's
/// `ServiceGroup` stops every child before the process exits.
public actor SessionRegistry: Service {
    private struct Entry {
        let session: Session
        var lastActivity: ContinuousClock.Instant
        /// HTTP requests being answered right now; a session with any is never idle.
        var inFlight: Int
    }

    public nonisolated let limits: SessionRegistryLimits
    private let spawner: SessionSpawner
    private let tokens: any UpstreamTokenProvider
    private let logger: Logger
    private var entries: [String: Entry] = [:]
    /// Spawns in progress per user: they count against the caps before they exist.
    private var starting: [Int64: Int] = [:]
    private var stopping: [String: Task<Void, Never>] = [:]
    private var shuttingDown = false
    /// Children of the stateless era's per-user pool (`ModernChildPool`), per user: they count
    /// against the same caps as sessions, in both directions.
    private var pooledChildren: [Int64: Int] = [:]
    /// The newest token generation announced per user (see `sessionsToSwap`).
    private var newestGeneration: [Int64: Int64] = [:]
    /// Sessions that opened with a token older than one already announced: their spawn fetched
    /// the token just before a refresh, and they were not there yet to be swapped with the rest.
    public nonisolated let staleSessions: AsyncStream<StaleSession>
    private let staleContinuation: AsyncStream<StaleSession>.Continuation

    public init(limits: SessionRegistryLimits, launcher: ChildLauncher, tokens: any UpstreamTokenProvider, logger: Logger) {
        self.limits = limits
        self.spawner = SessionSpawner(launcher: launcher, tokens: tokens, initializeTimeout: limits.initializeTimeout, logger: logger)
        self.tokens = tokens
        self.logger = logger
        (staleSessions, staleContinuation) = AsyncStream<StaleSession>.makeStream()
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

    // MARK: - Opening

    /// Spawns a child for `owner` with their Forgejo token and forwards the client's
    /// `initialize`; the session exists only if the child answered with a result.
    public func open(owner: SessionOwner, initialize: JSONRPCMessage) async throws(SessionError) -> SessionOpening {
        guard !shuttingDown else { throw .shuttingDown }
        try makeRoom(for: owner.userID)
        starting[owner.userID, default: 0] += 1
        publishCounts()
        defer {
            starting[owner.userID, default: 1] -= 1
            if starting[owner.userID] == 0 { starting[owner.userID] = nil }
            publishCounts()
        }
        let id = Base64URL.encode(OpaqueToken.randomBytes(24))
        let started = ContinuousClock.now
        let (bridge, credential) = try await spawner.spawn(sessionID: id, userID: owner.userID)
        let response = try await spawner.initialize(bridge, with: initialize)
        guard !shuttingDown else {
            await bridge.stop()
            throw .shuttingDown
        }
        guard let reply = try? JSONRPCMessage(response), reply.kind == .response else {
            await bridge.stop()
            return .rejected(initializeResponse: response)
        }
        let version = SessionSpawner.protocolVersion(of: reply) ?? "2025-03-26"
        let session = Session(id: id, owner: owner, protocolVersion: version, initializeRequest: initialize.bytes, bridge: bridge,
                              credential: credential)
        // Tracked before the session is visible, so the `untrack` of its end always follows.
        await tokens.track(userID: owner.userID)
        guard !shuttingDown else {
            await tokens.untrack(userID: owner.userID)
            await bridge.stop()
            throw .shuttingDown
        }
        await session.startForwarding()
        entries[id] = Entry(session: session, lastActivity: .now, inFlight: 0)
        watchExit(of: session, child: bridge.child)
        if let newest = newestGeneration[owner.userID], let generation = credential.generation, generation < newest {
            staleContinuation.yield(StaleSession(sessionID: id, generation: newest))
        }
        let spawnTime = ContinuousClock.now - started
        SessionMetrics.spawned(after: spawnTime)
        let pid = await bridge.child.pid.map { "\($0)" } ?? "-"
        logger.info("session started", metadata: [
            "session_id": "\(id)", "user": "\(owner.login)", "user_id": "\(owner.userID)", "client_id": "\(owner.clientID)",
            "protocol_version": "\(version)", "child_pid": "\(pid)",
            "spawn_ms": "\(Self.milliseconds(spawnTime))",
        ])
        return .opened(session, initializeResponse: response)
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    /// Enforces the caps for one more session of `userID`, ending the least recently used idle
    /// session (the user's own first) when that makes room.
    private func makeRoom(for userID: Int64) throws(SessionError) {
        let ownCount = entries.values.count { $0.session.owner.userID == userID } + starting[userID, default: 0]
            + pooledChildren[userID, default: 0]
        if ownCount >= limits.maxPerUser {
            guard let victim = oldestIdle(where: { $0.owner.userID == userID }) else {
                throw .limitReached("this user already has \(limits.maxPerUser) active sessions")
            }
            end(victim, reason: .evicted)
        }
        if entries.count + starting.values.reduce(0, +) + pooledChildren.values.reduce(0, +) >= limits.maxTotal {
            guard let victim = oldestIdle(where: { _ in true }) else {
                throw .limitReached("the broker already runs \(limits.maxTotal) sessions")
            }
            end(victim, reason: .evicted)
        }
    }

    private func oldestIdle(where matches: (Session) -> Bool) -> String? {
        entries.filter { $0.value.inFlight == 0 && matches($0.value.session) }
            .min { $0.value.lastActivity < $1.value.lastActivity }?.key
    }

    /// Counts one pooled child of `userID` against the caps; paired with `releasePooledChild`.
    /// Unlike an open it evicts nothing: a stateless request must not end someone's session.
    public func reservePooledChild(userID: Int64) throws(SessionError) {
        guard !shuttingDown else { throw .shuttingDown }
        let own = entries.values.count { $0.session.owner.userID == userID } + starting[userID, default: 0]
            + pooledChildren[userID, default: 0]
        guard own < limits.maxPerUser else { throw .limitReached("this user already has \(limits.maxPerUser) active sessions") }
        let total = entries.count + starting.values.reduce(0, +) + pooledChildren.values.reduce(0, +)
        guard total < limits.maxTotal else { throw .limitReached("the broker already runs \(limits.maxTotal) sessions") }
        pooledChildren[userID, default: 0] += 1
    }

    public func releasePooledChild(userID: Int64) {
        let count = pooledChildren[userID, default: 0] - 1
        pooledChildren[userID] = count > 0 ? count : nil
    }

    // MARK: - Lookup

    /// The session for a request of `owner`, counted as busy until `release`. Another user's
    /// (or client's) id is answered exactly like an unknown one, and logged.
    public func acquire(id: String, owner: SessionOwner) throws(SessionError) -> Session {
        let session = try lookup(id: id, owner: owner)
        entries[id]?.inFlight += 1
        entries[id]?.lastActivity = .now
        return session
    }

    public func release(id: String) {
        entries[id]?.inFlight -= 1
        entries[id]?.lastActivity = .now
    }

    /// The session without marking it busy (GET streams do not keep a session alive).
    public func lookup(id: String, owner: SessionOwner) throws(SessionError) -> Session {
        guard let entry = entries[id] else { throw .notFound }
        guard entry.session.owner.userID == owner.userID, entry.session.owner.clientID == owner.clientID else {
            logger.warning("session id presented by someone else; answering 404", metadata: [
                "session_id": "\(id)", "owner_user_id": "\(entry.session.owner.userID)",
                "owner_client_id": "\(entry.session.owner.clientID)", "presented_by_user_id": "\(owner.userID)",
                "presented_by_client_id": "\(owner.clientID)",
            ])
            throw .notFound
        }
        return entry.session
    }

    public var sessionCount: Int { entries.count }

    /// Every live session for the operator's `sessions` command, oldest first.
    public func summaries() async -> [SessionSummary] {
        let now = ContinuousClock.now
        var result: [SessionSummary] = []
        for entry in entries.values.sorted(by: { $0.session.createdAt < $1.session.createdAt }) {
            let session = entry.session
            result.append(SessionSummary(
                user: session.owner.login, userID: session.owner.userID, clientID: session.owner.clientID,
                ageSeconds: (now - session.createdAt).components.seconds,
                idleSeconds: entry.inFlight > 0 ? 0 : (now - entry.lastActivity).components.seconds,
                childPID: await session.child.pid, tokenExpiresAt: await session.credential.expiresAt))
        }
        return result
    }

    public func sessionIDs(userID: Int64) -> [String] {
        entries.filter { $0.value.session.owner.userID == userID }.map(\.key)
    }

    // MARK: - Ending

    /// Removes the session at once (later requests get 404) and stops its child in the background.
    public func end(_ id: String, reason: SessionEndReason) {
        guard let entry = entries.removeValue(forKey: id) else { return }
        let session = entry.session
        let logger = logger
        let tokens = tokens
        SessionMetrics.sessionEnded(reason)
        stopping[id] = Task { [weak self] in
            let exit = await session.stop()
            await tokens.untrack(userID: session.owner.userID)
            logger.info("session ended", metadata: [
                "session_id": "\(id)", "user_id": "\(session.owner.userID)", "reason": "\(reason.label)",
                "age_s": "\((ContinuousClock.now - session.createdAt).components.seconds)", "child_exit": "\(exit)",
            ])
            await self?.stopped(id)
        }
        publishCounts()
    }

    /// Ends every session of a user (their grants were revoked or their Forgejo login is gone).
    public func endSessions(userID: Int64, reason: SessionEndReason = .userSessionsEnded) {
        newestGeneration[userID] = nil
        for id in sessionIDs(userID: userID) { end(id, reason: reason) }
    }

    /// Ends the sessions one client holds for one user (a grant is exactly that pair).
    public func endSessions(userID: Int64, clientID: String, reason: SessionEndReason) {
        for (id, entry) in entries where entry.session.owner.userID == userID && entry.session.owner.clientID == clientID {
            end(id, reason: reason)
        }
    }

    // MARK: - Child swap

    /// The user's sessions, to be given children with the newly announced `generation`;
    /// remembered so a session opening right now is reported on `staleSessions` if it missed it.
    public func sessionsToSwap(userID: Int64, generation: Int64) -> [String] {
        newestGeneration[userID] = max(newestGeneration[userID] ?? generation, generation)
        return sessionIDs(userID: userID)
    }

    /// Gives the session a new child running a token of at least `generation` (token
    /// rotation, design §4). The old child keeps answering what it took; on failure it keeps
    /// serving everything and the caller may try again.
    public func replaceChild(sessionID id: String, generation: Int64, drain: Duration) async -> ChildSwapOutcome {
        guard !shuttingDown, let session = entries[id]?.session else { return .sessionGone }
        if let current = await session.credential.generation, current >= generation { return .notNeeded }
        let started = ContinuousClock.now
        let bridge: ChildBridge
        let credential: UpstreamCredential
        do {
            (bridge, credential) = try await spawner.replacement(for: session)
        } catch {
            SessionMetrics.childSwap(.failed, duration: ContinuousClock.now - started)
            logger.warning("child swap failed; the old child keeps serving", metadata: [
                "session_id": "\(id)", "user_id": "\(session.owner.userID)", "error": "\(error.message)",
            ])
            return .failed(tokenExpiresAt: await session.credential.expiresAt)
        }
        guard !shuttingDown, entries[id]?.session === session,
            await session.swap(to: bridge, credential: credential, drain: drain)
        else {
            await bridge.stop()
            return entries[id] == nil ? .sessionGone : .notNeeded
        }
        watchExit(of: session, child: bridge.child)
        let duration = ContinuousClock.now - started
        SessionMetrics.childSwap(.swapped, duration: duration)
        let pid = await bridge.child.pid.map { "\($0)" } ?? "-"
        logger.info("child swapped", metadata: [
            "session_id": "\(id)", "user_id": "\(session.owner.userID)", "child_pid": "\(pid)",
            "generation": "\(credential.generation.map { "\($0)" } ?? "-")", "swap_ms": "\(Self.milliseconds(duration))",
        ])
        return .swapped
    }

    /// Ends every session and waits until every child is gone.
    public func shutdown() async {
        shuttingDown = true
        for id in Array(entries.keys) { end(id, reason: .shutdown) }
        while let task = stopping.values.first {
            await task.value
        }
    }

    private func stopped(_ id: String) {
        stopping[id] = nil
        publishCounts()
    }

    /// Ends the session when `child` exits while it is still the session's current child (a
    /// child replaced by a swap is stopped on purpose).
    private func watchExit(of session: Session, child: ChildProcess) {
        let id = session.id
        // A callback, not a parked task: one fewer suspended task per idle session.
        child.onExit { [weak self] exit in
            await self?.childExited(id: id, session: session, child: child, exit: exit)
        }
    }

    private func childExited(id: String, session: Session, child: ChildProcess, exit: ChildExit) async {
        guard await session.child === child, entries[id]?.session === session else { return }
        end(id, reason: .childExited(exit))
    }

    func reap() {
        let now = ContinuousClock.now
        for (id, entry) in entries {
            if now - entry.session.createdAt > limits.maxLifetime {
                end(id, reason: .maxLifetime)
            } else if entry.inFlight == 0, now - entry.lastActivity > limits.idleTimeout {
                end(id, reason: .idle)
            }
        }
    }

    private func publishCounts() {
        SessionMetrics.counts(sessions: entries.count, children: entries.count + starting.values.reduce(0, +) + stopping.count)
    }
}

/// A session whose child runs an older token than `generation`, the newest announced.
public struct StaleSession: Sendable {
    public let sessionID: String
    public let generation: Int64
}

/// What one attempt to give a session a new child came to.
public enum ChildSwapOutcome: Sendable, Equatable {
    case swapped
    /// The session's child already runs this generation or a newer one.
    case notNeeded
    /// The session ended (or the broker is shutting down); nothing to do.
    case sessionGone
    /// The new child could not be started; the old one keeps serving until its token expires.
    case failed(tokenExpiresAt: Date?)
}

/// A revoked grant is exactly one client's access for one user.
extension SessionRegistry: GrantRevocationObserver {
    public func grantRevoked(userID: Int64, clientID: String) {
        endSessions(userID: userID, clientID: clientID, reason: .grantRevoked)
    }
}
