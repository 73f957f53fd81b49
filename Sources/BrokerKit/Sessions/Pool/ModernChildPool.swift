import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// One child per user for 2026-07-28 requests, which carry no session: the broker starts and
/// initializes the child itself and multiplexes the user's requests over it (the bridge rewrites
/// ids, so concurrent requests never collide). Children are counted against the session caps,
/// reaped when idle or too old, and stopped at shutdown (it runs as a `Service`). The child's
/// Forgejo token cannot be swapped in place, so a child whose token is about to expire is
/// retired: new requests get a fresh child, the old one ends when its last request is answered.
public actor ModernChildPool: Service {
    private struct Entry {
        let child: PooledChild
        let createdAt: ContinuousClock.Instant
        var lastActivity: ContinuousClock.Instant
        var inFlight: Int
        /// Answers server→client requests the bridge could not attribute to one call.
        let pump: Task<Void, Never>
        /// When the child's Forgejo token expires; nil if Forgejo did not say.
        let credentialExpiresAt: Date?
        /// The token set version the child runs (nil for providers without versions).
        let generation: Int64?
        /// Who the child was started for (a replacement is started for the same owner).
        let owner: SessionOwner
        /// No longer handed out; ends once `inFlight` reaches zero.
        var retired = false
        /// Counted in the registry's caps; given back when retired (the replacement counts
        /// instead, as a swapped session child does) or ended.
        var holdsReservation = true
    }

    /// A child whose token has less left than this gets no new requests (they could outlast it).
    static let credentialMargin: TimeInterval = 60

    public nonisolated let limits: SessionRegistryLimits
    /// Calls waiting for a client's MRTR retry; each holds its child busy until it ends.
    public nonisolated let parking = ModernInputParking()
    private let registry: SessionRegistry
    private let spawner: SessionSpawner
    private let tokens: any UpstreamTokenProvider
    private let tokenEvents: UpstreamTokenManager?
    private let drain: Duration
    /// The newest token generation announced per user: an older child gets no new requests.
    private var newestGeneration: [Int64: Int64] = [:]
    private let logger: Logger
    /// By child serial: the current child of each user and retired ones still answering.
    private var entries: [Int: Entry] = [:]
    var current: [Int64: Int] = [:]
    private var starting: [Int64: Task<PooledChild, any Error>] = [:]
    private var stopping: [Int: Task<Void, Never>] = [:]
    private var nextSerial = 0
    private var shuttingDown = false
    /// Users whose cap reservations are to be given back to the registry (in order).
    private var releases: [Int64] = []
    /// `subscriptions/listen` streams by listener id, and per user how many listeners want
    /// each resource URI (the child is subscribed while the count is above zero).
    var listeners: [Int: ModernListener] = [:]
    var nextListenerID = 0
    var resourceRefs: [Int64: [String: Int]] = [:]
    /// Per child (serial): running modern calls that could take a server→client request.
    private var inputCandidates: [Int: [ObjectIdentifier: ModernCall]] = [:]

    /// `registry` supplies the legacy session counts the caps are shared with. With
    /// `tokenEvents` (the broker's one token manager), a refreshed Forgejo token replaces the
    /// user's child at once and a dead grant stops it; `drain` bounds how long a replaced child
    /// may keep answering the requests it took.
    public init(limits: SessionRegistryLimits, registry: SessionRegistry, launcher: ChildLauncher,
                tokens: any UpstreamTokenProvider, logger: Logger, tokenEvents: UpstreamTokenManager? = nil,
                drain: Duration = .seconds(30)) {
        self.limits = limits
        self.registry = registry
        self.tokens = tokens
        self.spawner = SessionSpawner(launcher: launcher, tokens: tokens, initializeTimeout: limits.initializeTimeout, logger: logger)
        self.logger = logger
        self.tokenEvents = tokenEvents
        self.drain = drain
    }

    public var childCount: Int { entries.count }

    /// Requests the user's child is still working on: zero after a client closed its stream
    /// shows the cancellation reached the child (operators and tests look at this).
    public func pendingRequests(userID: Int64) async -> Int {
        var pending = 0
        for entry in entries.values where entry.child.userID == userID {
            pending += await entry.child.bridge.pendingCount
        }
        return pending
    }

    // MARK: - Service

    public func run() async throws {
        let reaper = Task { [weak self, limits] in
            while !Task.isCancelled {
                try? await Task.sleep(for: limits.reapInterval)
                await self?.reap()
            }
        }
        let events = await tokenEvents?.events()
        let follower = Task { [weak self] in
            guard let events else { return }
            for await event in events { await self?.handle(event) }
        }
        try? await gracefulShutdown()
        follower.cancel()
        reaper.cancel()
        await shutdown()
    }

    // MARK: - Use

    /// The user's child, started on first use; busy (never reaped) until `release`.
    public func acquire(owner: SessionOwner) async throws(SessionError) -> PooledChild {
        guard !shuttingDown else { throw .shuttingDown }
        if let child = checkout(owner.userID, renewing: true) { return child }
        let task: Task<PooledChild, any Error>
        if let pending = starting[owner.userID] {
            task = pending
        } else {
            task = Task { try await self.start(owner) }
            starting[owner.userID] = task
        }
        let result = await task.result
        if starting[owner.userID] == task { starting[owner.userID] = nil }
        switch result {
        case .success:
            guard let child = checkout(owner.userID, renewing: false) else { throw .childStartFailed("the MCP server process exited") }
            return child
        case .failure(let error as SessionError): throw error
        case .failure(let error): throw .childStartFailed("\(error)")
        }
    }

    public func release(_ child: PooledChild) {
        guard var entry = entries[child.serial] else { return }
        entry.inFlight -= 1
        entry.lastActivity = .now
        entries[child.serial] = entry
        if entry.retired, entry.inFlight == 0 { end(child.serial, reason: .maxLifetime) }
    }

    /// `renewing` retires a child whose token is nearly used up; a child that was just started
    /// is used regardless, since its token is the freshest the provider has.
    private func checkout(_ userID: Int64, renewing: Bool) -> PooledChild? {
        guard let serial = current[userID], var entry = entries[serial] else { return nil }
        if renewing, let expiry = entry.credentialExpiresAt, expiry.timeIntervalSinceNow < Self.credentialMargin {
            retire(serial)
            return nil
        }
        if let newest = newestGeneration[userID], let generation = entry.generation, generation < newest {
            // Started with a token that was replaced meanwhile (the refresh raced the start).
            retire(serial)
            return nil
        }
        entry.inFlight += 1
        entry.lastActivity = .now
        entries[serial] = entry
        return entry.child
    }

    private func retire(_ serial: Int) {
        guard let entry = entries[serial] else { return }
        if current[entry.child.userID] == serial { current[entry.child.userID] = nil }
        entries[serial]?.retired = true
        giveBackReservation(serial)
        if entry.inFlight == 0 {
            end(serial, reason: .maxLifetime)
            return
        }
        // Bounded drain: requests that outlive it fail with the child's exit, as in a session swap.
        let drain = drain
        Task { [weak self] in
            try? await Task.sleep(for: drain)
            await self?.endIfRetired(serial)
        }
    }

    private func endIfRetired(_ serial: Int) {
        if entries[serial]?.retired == true { end(serial, reason: .maxLifetime) }
    }

    // MARK: - Token events

    /// A refreshed token replaces the user's child (retired: its requests finish there, new ones
    /// go to a child started right away with the new token); a dead grant ends the user's
    /// children, listen streams and parked calls, since every Forgejo call would fail.
    func handle(_ event: UpstreamTokenEvent) async {
        switch event {
        case .refreshed(let userID, let token):
            newestGeneration[userID] = max(newestGeneration[userID] ?? token.generation, token.generation)
            guard let serial = current[userID], let entry = entries[serial], let generation = entry.generation,
                generation < token.generation
            else { return }
            retire(serial)
            ModernMetrics.childReplaced()
            logger.info("modern child replaced after a token refresh", metadata: [
                "user_id": "\(userID)", "generation": "\(token.generation)",
            ])
            if let child = try? await acquire(owner: entry.owner) { release(child) }
        case .dead(let userID, _):
            newestGeneration[userID] = nil
            for (serial, entry) in entries where entry.child.userID == userID { end(serial, reason: .upstreamGrantDead) }
            endListeners(userID: userID)
        }
    }

    // MARK: - Starting

    /// The handshake a legacy client would do, with the broker as the client. It declares
    /// elicitation, sampling and roots because it can pass them on to a stateless client that
    /// declares them per request (MRTR); for one that does not, the child's request is refused,
    /// as a legacy client without the capability would.
    private static let initialize = Array(
        #"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{},"sampling":{},"roots":{}},"clientInfo":{"name":"fjmcp-broker","version":"1"}}}"#
            .utf8)
    private static let initialized = Array(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.utf8)

    /// A pooled child is one more session for the registry's caps (per user and in total),
    /// reserved before the spawn so a legacy open and a pooled start can never both take the
    /// last slot.
    private func start(_ owner: SessionOwner) async throws(SessionError) -> PooledChild {
        await flushReleases()
        try await registry.reservePooledChild(userID: owner.userID)
        do {
            return try await launch(owner)
        } catch {
            await registry.releasePooledChild(userID: owner.userID)
            throw error
        }
    }

    private func giveBackReservation(_ serial: Int) {
        guard let entry = entries[serial], entry.holdsReservation else { return }
        entries[serial]?.holdsReservation = false
        releases.append(entry.child.userID)
        Task { await self.flushReleases() }
    }

    private func flushReleases() async {
        let pending = releases
        releases.removeAll()
        for userID in pending { await registry.releasePooledChild(userID: userID) }
    }

    private func launch(_ owner: SessionOwner) async throws(SessionError) -> PooledChild {
        let started = ContinuousClock.now
        let label = "modern-\(owner.userID)-\(Base64URL.encode(OpaqueToken.randomBytes(6)))"
        let (bridge, credential) = try await spawner.spawn(sessionID: label, userID: owner.userID)
        guard let request = try? JSONRPCMessage(Self.initialize), let notification = try? JSONRPCMessage(Self.initialized) else {
            await bridge.stop()
            throw .childStartFailed("invalid initialize message")
        }
        let response = try await spawner.initialize(bridge, with: request)
        guard let server = ChildServerInfo(initializeResponse: response) else {
            await bridge.stop()
            throw .childStartFailed("the MCP server rejected initialize")
        }
        try? await bridge.forwardNotification(notification)
        guard !shuttingDown else {
            await bridge.stop()
            throw .shuttingDown
        }
        nextSerial += 1
        let child = PooledChild(serial: nextSerial, userID: owner.userID, bridge: bridge, server: server, catalog: ToolHeaderCatalog())
        await child.refreshCatalog(timeout: limits.initializeTimeout)
        let pump = Task { [weak self] in
            for await bytes in bridge.serverStream {
                guard let message = try? JSONRPCMessage(bytes) else { continue }
                if message.kind == .request {
                    // Several calls were pending, so the bridge could not say whose it is; the
                    // only call able to take input gets it, otherwise the child hears a refusal.
                    // (The candidate may stop reading between the lookup and the injection.)
                    if let call = await self?.soleInputCandidate(of: child), await call.inject(.message(bytes)) {
                        continue
                    }
                    await child.answerServerRequest(message)
                } else {
                    await self?.publish(message, from: child)
                }
            }
        }
        entries[child.serial] = Entry(child: child, createdAt: .now, lastActivity: .now, inFlight: 0, pump: pump,
                                      credentialExpiresAt: credential.expiresAt, generation: credential.generation, owner: owner)
        // Keeps the user's token refreshed ahead of expiry (and `.refreshed` coming) while the
        // child runs; undone when it ends.
        await tokens.track(userID: owner.userID)
        current[owner.userID] = child.serial
        publishCount()
        watchExit(of: child)
        resubscribe(child)
        let pid = await bridge.child.pid.map { "\($0)" } ?? "-"
        logger.info("modern child started", metadata: [
            "user": "\(owner.login)", "user_id": "\(owner.userID)", "child_pid": "\(pid)",
            "spawn_ms": "\(SessionRegistry.milliseconds(ContinuousClock.now - started))",
        ])
        return child
    }

    private func watchExit(of child: PooledChild) {
        let process = child.bridge.child
        Task { [weak self] in
            guard let exit = await process.waitForExit() else { return }
            await self?.childExited(child, exit: exit)
        }
    }

    private func childExited(_ child: PooledChild, exit: ChildExit) {
        end(child.serial, reason: .childExited(exit))
    }

    // MARK: - Ending

    /// Removes a child at once (the user's next request starts a new one) and stops it in the background.
    private func end(_ serial: Int, reason: SessionEndReason) {
        giveBackReservation(serial)
        guard let entry = entries.removeValue(forKey: serial) else { return }
        let userID = entry.child.userID
        if current[userID] == serial { current[userID] = nil }
        let logger = logger
        let tokens = tokens
        stopping[serial] = Task { [weak self] in
            let exit = await entry.child.bridge.stop()
            await tokens.untrack(userID: userID)
            entry.pump.cancel()
            logger.info("modern child ended", metadata: [
                "user_id": "\(userID)", "reason": "\(reason.label)", "child_exit": "\(exit)",
                "age_s": "\((ContinuousClock.now - entry.createdAt).components.seconds)",
            ])
            await self?.stopped(serial)
        }
    }

    private func stopped(_ serial: Int) {
        stopping[serial] = nil
        publishCount()
    }

    /// Running children, retired and stopping ones included: each is a process on this host.
    private func publishCount() {
        Gauge(label: "fjmcp_modern_children_active").record(entries.count + stopping.count)
    }

    /// Ends every child and waits until every one is gone.
    public func shutdown() async {
        shuttingDown = true
        endListeners()
        await parking.shutdown()
        for serial in Array(entries.keys) { end(serial, reason: .shutdown) }
        while let task = stopping.values.first {
            await task.value
        }
    }

    func addInputCandidate(_ call: ModernCall) {
        inputCandidates[call.child.serial, default: [:]][ObjectIdentifier(call)] = call
    }

    func removeInputCandidate(_ call: ModernCall) {
        inputCandidates[call.child.serial]?[ObjectIdentifier(call)] = nil
        if inputCandidates[call.child.serial]?.isEmpty == true { inputCandidates[call.child.serial] = nil }
    }

    func soleInputCandidate(of child: PooledChild) -> ModernCall? {
        guard let candidates = inputCandidates[child.serial], candidates.count == 1 else { return nil }
        return candidates.values.first
    }

    /// The user's current child, if one runs (listeners subscribe resources on it).
    func currentChild(of userID: Int64) -> PooledChild? {
        current[userID].flatMap { entries[$0]?.child }
    }

    /// A busy child is never ended: its age limit applies once its requests are answered. An
    /// idle one is kept while its user listens for changes (it is what would announce them).
    func reap() {
        let now = ContinuousClock.now
        for (serial, entry) in entries where entry.inFlight == 0 {
            if entry.retired || now - entry.createdAt > limits.maxLifetime {
                end(serial, reason: .maxLifetime)
            } else if now - entry.lastActivity > limits.idleTimeout, !hasListeners(userID: entry.child.userID) {
                end(serial, reason: .idle)
            }
        }
    }
}
