/// Replica mode: a child starts here only once this replica holds its key in the store, the
/// key is given back when the child ends here, and children whose key another replica took are
/// ended (fencing), so one session or user never has two children. Without a placement
/// (single-process mode) every function here returns at once, and a key with a local child is
/// always served without the store.
extension ChildHost {
    /// A release of a key's claim, waiting for its child to stop first.
    struct PendingRelease {
        let serial: Int
        let task: Task<Void, Never>
    }

    /// Runs `body` (which starts `key`'s child) once this replica holds `key`; gives the claim
    /// back when no child runs under `key` afterwards (the start failed or was refused, or the
    /// body only ended a record). Runs inside the one start per key (`resumptions`, `userStarts`,
    /// a new session id), or for a DELETE of a session without a child here.
    func placed<T>(_ key: ChildKey, _ body: () async throws(SessionError) -> T) async throws(SessionError) -> T {
        guard placement != nil else { return try await body() }
        try await claim(key)
        defer { if entries[key] == nil { releaseClaim(key, after: []) } }
        return try await body()
    }

    /// The MRTR retry path (`ModernEndpoint.resume`): a parked call lives with the user's child,
    /// so a retry is served here only when this replica runs that child or may start it. Throws
    /// `.heldElsewhere` when another live replica holds `key` (the hop forwards the retry there).
    /// No store access when the child is local (a lock read: `.storeUnavailable` while this
    /// replica's beat is too old to serve it, see ``ChildPlacement/isServing``).
    public func claimHere(_ key: ChildKey) async throws(SessionError) {
        guard let placement else { return }
        guard entries[key] == nil else { return try placement.checkServing() }
        try await claim(key)
        // No child here and none starting: nothing can be parked here; keep no claim for it.
        if entries[key] == nil, !isStarting(key) { releaseClaim(key, after: []) }
    }

    private func isStarting(_ key: ChildKey) -> Bool {
        switch key {
        case .session(let id): resumptions[id] != nil
        case .user(let userID): userStarts[userID] != nil
        }
    }

    /// Claims `key` after any release of it still on its way (a child that ended here moments
    /// ago), so a late release never takes a new child's claim away. Never once shutting down:
    /// the replica's row goes at the end of its shutdown, and a later claim would outlive it.
    private func claim(_ key: ChildKey) async throws(SessionError) {
        guard let placement else { return }
        guard !shuttingDown else { throw .shuttingDown }
        while let pending = releases[key] { await pending.task.value }
        try await placement.claim(key)
        claimedAt[key] = .now
    }

    /// Gives `key`'s claim back once `work` finished (its child's stop, its record's end):
    /// another replica may start a child for it only when this one is gone, and resumes a
    /// session only when its end for good is in the store.
    func releaseClaim(_ key: ChildKey, after work: [Task<Void, Never>]) {
        guard let placement else { return }
        claimedAt[key] = nil
        let previous = releases[key]?.task
        nextReleaseSerial += 1
        let serial = nextReleaseSerial
        releases[key] = PendingRelease(serial: serial, task: Task { [weak self] in
            await previous?.value
            for task in work { await task.value }
            await placement.release(key)
            await self?.released(key, serial: serial)
        })
    }

    private func released(_ key: ChildKey, serial: Int) {
        if releases[key]?.serial == serial { releases[key] = nil }
    }

    /// `key`'s child ended here for `reason` and is stopped by `stop`; `recordEnded` writes the
    /// session's end for good (revocation, lifetime; a DELETE wrote it before ending the child).
    /// Its key is given back after both, except at shutdown (the replica's removal releases every
    /// claim at once) and when it may already belong to another replica.
    func childEnded(_ key: ChildKey, reason: SessionEndReason, stop: Task<Void, Never>, recordEnded: Task<Void, Never>?) {
        switch reason {
        case .shutdown, .takenOver: claimedAt[key] = nil
        default: releaseClaim(key, after: [stop] + (recordEnded.map { [$0] } ?? []))
        }
    }

    // MARK: - Fencing

    /// A beat told which keys the store says this replica holds: a local child whose key is not
    /// among them was taken over by another replica while this one's beats did not arrive, and
    /// ends here (its session resumes on the holder). Children claimed after the beat was sent
    /// are not judged by it.
    func fence(held: Set<String>, beatIssuedAt: ContinuousClock.Instant) async {
        var taken: [ChildKey] = []
        for key in Array(entries.keys) where !held.contains(ChildPlacement.storeKey(key)) {
            guard let claimed = claimedAt[key], claimed < beatIssuedAt else { continue }
            logger.warning("child taken over by another replica; ending it here", metadata: ["kind": "\(key.kind)"])
            taken.append(key)
        }
        await endTakenOver(taken)
    }

    /// This replica's last beat is `fenceAge` old (the heartbeat's watchdog): the others may
    /// take any of its children over at the lapse, so all of them end here first.
    func endAllTakenOver() async {
        guard !entries.isEmpty else { return }
        logger.error("replica heartbeat too old; ending every local child (the other replicas may have taken them over)", metadata: [
            "children": "\(entries.count)",
        ])
        await endTakenOver(Array(entries.keys))
    }

    /// Ends `keys`' children here. A user child's listen streams and parked MRTR calls live
    /// with it: they end too, or their clients would wait on a silent stream for ever instead
    /// of reconnecting (and landing on the new holder).
    private func endTakenOver(_ keys: [ChildKey]) async {
        for key in keys { end(key, reason: .takenOver) }
        for case .user(let userID) in keys {
            endListeners(userID: userID, clientID: nil)
            await endScopedWork(userID: userID, clientID: nil)
        }
    }
}
