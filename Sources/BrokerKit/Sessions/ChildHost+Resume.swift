import Foundation

/// Sessions outlive their children. A session is a record in the store; a child is a cache of
/// it. A request on a session id this process holds no child for (after a restart, an idle reap,
/// a cap eviction or a crash) starts a child with the recorded handshake and state, then is
/// served. Only DELETE, revocation and the maximum lifetime end a session for good.
extension ChildHost {
    /// Resumes session `id` for `owner`; concurrent requests on one id share one start. Throws
    /// `.notFound` when the session cannot be resumed (the reason is logged, never told).
    func resume(_ id: String, owner: SessionOwner) async throws(SessionError) {
        guard records != nil else { return }
        let task: Task<Void, any Error>
        if let pending = resumptions[id] {
            task = pending
        } else {
            task = Task { try await self.resumeOnce(id, owner: owner) }
            resumptions[id] = task
        }
        let result = await task.result
        if resumptions[id] == task { resumptions[id] = nil }
        switch result {
        case .success: return
        case .failure(let error as SessionError): throw error
        case .failure(let error): throw .childStartFailed("\(error)")
        }
    }

    private func resumeOnce(_ id: String, owner: SessionOwner) async throws(SessionError) {
        guard entries[.session(id)] == nil else { return }
        // Read before the claim too: an unknown or foreign id costs no claim transaction.
        let record = try await resumableRecord(id, owner: owner)
        try await placed(.session(id)) { () async throws(SessionError) in
            // A DELETE (or revocation) on the replica that held the key may have ended the
            // record between the read and the claim; it gives the claim back only once the
            // record is ended, so a read after the claim sees it.
            let current = placement == nil ? record : try await resumableRecord(id, owner: owner)
            try await startResumed(id, record: current, owner: owner)
        }
    }

    /// Session `id`'s live record, when `owner` may resume it; `.notFound` otherwise.
    private func resumableRecord(_ id: String, owner: SessionOwner) async throws(SessionError) -> SessionRecord {
        guard let records else { throw .notFound }
        let record: SessionRecord?
        do {
            record = try await records.liveSession(idHash: TokenHasher.hash(id))
        } catch {
            logger.error("session records cannot be read", metadata: ["session_id": "\(id)", "error": "\(error)"])
            throw .storeUnavailable
        }
        // Ended here moments ago: the store write may still be on its way.
        guard !freed.isEnded(id) else { throw notResumable(id, "ended") }
        guard let record else { throw notResumable(id, "no live record (unknown, deleted, revoked or ended)") }
        guard record.userID == owner.userID, record.clientID == owner.clientID else {
            logger.warning("session id presented by someone else; answering 404", metadata: [
                "session_id": "\(id)", "owner_user_id": "\(record.userID)", "owner_client_id": "\(record.clientID)",
                "presented_by_user_id": "\(owner.userID)", "presented_by_client_id": "\(owner.clientID)",
            ])
            throw .notFound
        }
        return record
    }

    /// Starts session `id`'s child from its record (this replica holds its key, in replica mode).
    private func startResumed(_ id: String, record: SessionRecord, owner: SessionOwner) async throws(SessionError) {
        let age = Date().timeIntervalSince(record.createdAt)
        guard age < limits.maxLifetime.seconds else {
            await endRecord(id, reason: .maxLifetime)
            throw notResumable(id, "older than the maximum session lifetime")
        }
        try makeRoom(for: owner.userID)
        let cause = freed.take(id)
        var handshake = ChildHandshake(initialize: record.initialize, initialized: record.initialized)
        handshake.state = SessionState(logLevel: record.logLevel, subscriptions: record.subscriptions)
        let createdAt = ContinuousClock.now - .seconds(age)
        switch try await start(.session(id), owner: owner, handshake: handshake, createdAt: createdAt) {
        case .started:
            SessionMetrics.resumed(cause: cause.label)
            logger.info(cause == .deferred ? "session's deferred child started" : "session resumed on a new child", metadata: [
                "session_id": "\(id)", "user": "\(owner.login)", "cause": "\(cause.label)",
            ])
        case .rejected:
            throw .childStartFailed("the MCP server rejected the session's recorded initialize")
        }
    }

    private func notResumable(_ id: String, _ reason: String) -> SessionError {
        logger.info("session id not resumable; answering 404", metadata: ["session_id": "\(id)", "reason": "\(reason)"])
        return .notFound
    }

    /// DELETE: ends the session for good whether or not a child runs for it right now, and
    /// succeeds only once its record's end is in the store. In replica mode a session whose child
    /// another live replica holds is deleted there (`.heldElsewhere`), so its record never ends
    /// under a running child.
    ///
    /// When the store cannot end the record (or read it), the DELETE throws `.storeUnavailable`
    /// (503: the client retries) and changes nothing: the child keeps running, the claim stays
    /// here, the record stays live. Answering 204 instead would let the deleted session come
    /// back from its live record: on another replica once the claim went back (with the child,
    /// or with this replica's removal at a clean stop or its lapse), and in this process after a
    /// restart or once `freed` forgot the id. Only a record's end in the store outlives all of
    /// those; a claim or a tombstone kept here does not.
    public func delete(id: String, owner: SessionOwner) async throws(SessionError) {
        if entries[.session(id)] != nil {
            _ = try current(id: id, owner: owner)
            try await endRecordForDelete(id)
            end(.session(id), reason: .clientDeleted, endingRecord: false)
            return
        }
        _ = try await resumableRecord(id, owner: owner)
        try await placed(.session(id)) { () async throws(SessionError) in
            try await endRecordForDelete(id)
        }
    }

    /// Ends session `id`'s record for a DELETE; throws `.storeUnavailable` when the store could
    /// not. The id is marked ended before the write, so that a resumption on this process that
    /// read the record before the write cannot start a child for it, and unmarked when the
    /// write failed (the session then lives on).
    private func endRecordForDelete(_ id: String) async throws(SessionError) {
        let previous = freed.cause(of: id)
        freed.insert(id, cause: .ended)
        do {
            try await writeEnd(id, reason: .clientDeleted)
            // Again: the child may have exited during the write and noted its own cause.
            freed.insert(id, cause: .ended)
        } catch {
            freed.unmarkEnded(id, restoring: previous)
            logger.error("session record not ended; answering the DELETE 503, the session lives on", metadata: [
                "session_id": "\(id)", "error": "\(error)",
            ])
            throw .storeUnavailable
        }
    }

    /// Notes session state a client request or notification sets on `lease`'s session, and
    /// persists it when it changed (rare requests: never a write per call).
    func remember(_ message: JSONRPCMessage, on child: HostedChild) async {
        guard case .session(let id) = child.key, let records else { return }
        let (initialized, state) = await (child.initializedNotification, child.state)
        do {
            try await records.updateSessionState(idHash: TokenHasher.hash(id), initialized: initialized, logLevel: state.logLevel,
                                                 subscriptions: state.subscriptions)
        } catch {
            logger.warning("session state not persisted; a resumed child may miss it", metadata: [
                "session_id": "\(id)", "method": "\(message.method ?? "-")", "error": "\(error)",
            ])
        }
    }

    /// The capabilities (`elicitation`, `sampling`, `roots`, …) `owner`'s client declared in
    /// its most recent `initialize`; empty when none is recorded.
    public func declaredCapabilities(of owner: SessionOwner) async -> Set<String> {
        guard let records, let initialize = try? await records.latestInitialize(userID: owner.userID, clientID: owner.clientID),
            let object = (try? JSONSerialization.jsonObject(with: Data(initialize))) as? [String: Any],
            let capabilities = (object["params"] as? [String: Any])?["capabilities"] as? [String: Any]
        else { return [] }
        return Set(capabilities.keys)
    }

    /// Writes session `id`'s end to the store (nothing to write without one).
    private func writeEnd(_ id: String, reason: SessionEndReason) async throws {
        try await records?.endSession(idHash: TokenHasher.hash(id), reason: reason.label, now: Date())
    }

    /// Ends session `id`'s record; a failure is only logged (see `endRecordForDelete` for the
    /// one end that must not be lost silently).
    func endRecord(_ id: String, reason: SessionEndReason) async {
        do {
            try await writeEnd(id, reason: reason)
        } catch {
            logger.error("session record not ended", metadata: ["session_id": "\(id)", "error": "\(error)"])
        }
    }

    func endRecords(userID: Int64, clientID: String?, reason: SessionEndReason) async {
        guard let records else { return }
        do {
            try await records.endSessions(userID: userID, clientID: clientID, reason: reason.label, now: Date())
        } catch {
            logger.error("session records not ended", metadata: ["user_id": "\(userID)", "error": "\(error)"])
        }
    }

    /// Remembers what the child command answers to an `initialize` of this version; a lazily
    /// started child that answers differently is logged once, and its answer is used from then on.
    func rememberInitializeResult(_ server: ChildServerInfo, for handshake: ChildHandshake) {
        guard let message = try? JSONRPCMessage(handshake.initialize) else { return }
        let requested = Self.requestedVersion(message)
        if let known = initializeResults[requested], known.result != server.result {
            logger.notice("the MCP server answered initialize differently than before; using its new answer", metadata: [
                "protocol_version": "\(requested)",
            ])
        }
        initializeResults[requested] = server
    }
}

/// Why this process freed recent sessions' children (or ended them for good), bounded: the
/// oldest are forgotten first.
struct FreedSessions: Sendable {
    enum Cause: Sendable {
        case reaped, evicted, crashed, restart
        /// Opened without a child (its `initialize` answer was known): this is its first child.
        case deferred
        /// Ended for good by this process (DELETE, revocation, lifetime): never resumed, even
        /// before its record's end reached the store.
        case ended

        var label: String {
            switch self {
            case .deferred: "deferred"
            case .ended: "ended"
            case .reaped: "reaped"
            case .evicted: "evicted"
            case .crashed: "crashed"
            case .restart: "restart"
            }
        }
    }

    let capacity: Int
    private var causes: [String: Cause] = [:]
    private var order: [String] = []

    init(capacity: Int) { self.capacity = capacity }

    mutating func insert(_ id: String, reason: SessionEndReason) {
        let cause: Cause =
            switch reason {
            case .idle: .reaped
            case .evicted: .evicted
            case .childExited, .upstreamTokenExpired: .crashed
            default: .restart
            }
        insert(id, cause: cause)
    }

    mutating func insert(_ id: String, cause: Cause) {
        if causes.updateValue(cause, forKey: id) == nil { order.append(id) }
        if order.count > capacity { causes[order.removeFirst()] = nil }
    }

    /// The cause for `id`, forgotten once taken; `.restart` when this process never had it.
    mutating func take(_ id: String) -> Cause {
        causes.removeValue(forKey: id) ?? .restart
    }

    func isEnded(_ id: String) -> Bool {
        causes[id] == .ended
    }

    /// The cause noted for `id`, if any, without taking it.
    func cause(of id: String) -> Cause? {
        causes[id]
    }

    /// Takes back `id`'s `.ended` mark: its end for good did not happen (the store refused it).
    /// The cause noted before the mark (`.reaped`, `.evicted`, …) comes back.
    mutating func unmarkEnded(_ id: String, restoring previous: Cause?) {
        guard isEnded(id) else { return }
        guard let previous else {
            causes[id] = nil
            order.removeAll { $0 == id }
            return
        }
        causes[id] = previous
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
