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
    private let logger: Logger
    private var entries: [String: Entry] = [:]
    /// Spawns in progress per user: they count against the caps before they exist.
    private var starting: [Int64: Int] = [:]
    private var stopping: [String: Task<Void, Never>] = [:]
    private var shuttingDown = false

    public init(limits: SessionRegistryLimits, launcher: ChildLauncher, tokens: any UpstreamTokenProvider, logger: Logger) {
        self.limits = limits
        self.spawner = SessionSpawner(launcher: launcher, tokens: tokens, initializeTimeout: limits.initializeTimeout, logger: logger)
        self.logger = logger
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
        let bridge = try await spawner.spawn(sessionID: id, userID: owner.userID)
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
        let session = Session(id: id, owner: owner, protocolVersion: version, initializeRequest: initialize.bytes, bridge: bridge)
        await session.startForwarding()
        entries[id] = Entry(session: session, lastActivity: .now, inFlight: 0)
        await watchExit(of: session)
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
        if ownCount >= limits.maxPerUser {
            guard let victim = oldestIdle(where: { $0.owner.userID == userID }) else {
                throw .limitReached("this user already has \(limits.maxPerUser) active sessions")
            }
            end(victim, reason: .evicted)
        }
        if entries.count + starting.values.reduce(0, +) >= limits.maxTotal {
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

    public func sessionIDs(userID: Int64) -> [String] {
        entries.filter { $0.value.session.owner.userID == userID }.map(\.key)
    }

    // MARK: - Ending

    /// Removes the session at once (later requests get 404) and stops its child in the background.
    public func end(_ id: String, reason: SessionEndReason) {
        guard let entry = entries.removeValue(forKey: id) else { return }
        let session = entry.session
        let logger = logger
        SessionMetrics.sessionEnded(reason)
        stopping[id] = Task { [weak self] in
            let exit = await session.stop()
            logger.info("session ended", metadata: [
                "session_id": "\(id)", "user_id": "\(session.owner.userID)", "reason": "\(reason.label)",
                "age_s": "\((ContinuousClock.now - session.createdAt).components.seconds)", "child_exit": "\(exit)",
            ])
            await self?.stopped(id)
        }
        publishCounts()
    }

    /// Ends every session of a user (their grants were revoked or their Forgejo login is gone).
    public func endSessions(userID: Int64) {
        for id in sessionIDs(userID: userID) { end(id, reason: .userSessionsEnded) }
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

    private func watchExit(of session: Session) async {
        let child = await session.child
        let id = session.id
        Task { [weak self] in
            guard let exit = await child.waitForExit() else { return }
            await self?.childExited(id: id, session: session, exit: exit)
        }
    }

    private func childExited(id: String, session: Session, exit: ChildExit) {
        guard entries[id]?.session === session else { return }
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
