import Foundation

/// A change-notification stream of one client of a user; it ends with that client's access.
struct Listener: Sendable {
    let userID: Int64
    let clientID: String
    let filter: ListenFilter
    let continuation: AsyncStream<[UInt8]>.Continuation
    /// What waits for the stream's writer; a listener too far behind has its stream ended.
    let budget: BufferBudget
}

/// Change notifications of a user's child fan out to that user's listeners that opted in, and
/// resource subscriptions become the child's `resources/subscribe` (reference-counted per user,
/// renewed on every new child of the user).
extension ChildHost {
    static let maxListenersPerUser = 16

    /// What a user child announces to `subscriptions/listen` streams, never to a call's answer.
    static let changeNotifications: Set<String> = [
        "notifications/tools/list_changed", "notifications/prompts/list_changed", "notifications/resources/list_changed",
        "notifications/resources/updated",
    ]

    /// Registers a listener for `owner` and returns what is honoured and the child's matching
    /// notifications (raw, untagged), with the budget the reader frees as it takes each. The
    /// stream ends when the listener's access is revoked, the broker shuts down, or the reader
    /// falls more than `limits.maxBufferedEventBytes` behind; ending it from the reader's side
    /// unregisters the listener.
    func listen(owner: SessionOwner, filter: ListenFilter) async throws(SessionError)
        -> (honored: ListenFilter, notifications: AsyncStream<[UInt8]>, budget: BufferBudget)
    {
        // Each listener is an open stream and a share of the child's subscriptions.
        guard listeners.values.count(where: { $0.userID == owner.userID }) < Self.maxListenersPerUser else {
            throw .limitReached("this user already has \(Self.maxListenersPerUser) subscriptions/listen streams")
        }
        let lease = try await acquireUserChild(owner: owner)
        let child = lease.child
        let capabilities = child.server.capabilitiesObject
        func flag(_ feature: String, _ name: String) -> Bool {
            ((capabilities[feature] as? [String: Any])?[name] as? Bool) ?? false
        }
        var honored = ListenFilter()
        honored.toolsListChanged = filter.toolsListChanged && flag("tools", "listChanged")
        honored.promptsListChanged = filter.promptsListChanged && flag("prompts", "listChanged")
        honored.resourcesListChanged = filter.resourcesListChanged && flag("resources", "listChanged")
        var subscribed: [String] = []
        if flag("resources", "subscribe") {
            for uri in Array(Set(filter.resourceSubscriptions)).sorted() {
                let count = resourceRefs[owner.userID, default: [:]][uri, default: 0]
                resourceRefs[owner.userID, default: [:]][uri] = count + 1
                if count == 0, await !child.resourceRequest("resources/subscribe", uri: uri, timeout: limits.initializeTimeout) {
                    dropReference(userID: owner.userID, uri: uri)
                    continue
                }
                subscribed.append(uri)
            }
        }
        honored.resourceSubscriptions = subscribed
        release(lease)

        let (notifications, continuation) = AsyncStream<[UInt8]>.makeStream()
        nextListenerID += 1
        let id = nextListenerID
        let budget = BufferBudget(limit: limits.maxBufferedEventBytes)
        listeners[id] = Listener(userID: owner.userID, clientID: owner.clientID, filter: honored, continuation: continuation,
                                 budget: budget)
        continuation.onTermination = { [weak self] _ in
            Task { await self?.removeListener(id) }
        }
        return (honored, notifications, budget)
    }

    public func listenerCount(userID: Int64) -> Int {
        listeners.values.count { $0.userID == userID }
    }

    func hasListeners(userID: Int64) -> Bool {
        listeners.values.contains { $0.userID == userID }
    }

    private func removeListener(_ id: Int) {
        guard let listener = listeners.removeValue(forKey: id) else { return }
        for uri in listener.filter.resourceSubscriptions {
            guard dropReference(userID: listener.userID, uri: uri), let child = userChild(of: listener.userID) else { continue }
            let timeout = limits.initializeTimeout
            Task { await child.resourceRequest("resources/unsubscribe", uri: uri, timeout: timeout) }
        }
    }

    /// Returns whether this was the last reference (the child should unsubscribe).
    @discardableResult
    private func dropReference(userID: Int64, uri: String) -> Bool {
        let count = resourceRefs[userID]?[uri] ?? 0
        if count <= 1 {
            resourceRefs[userID]?[uri] = nil
            if resourceRefs[userID]?.isEmpty == true { resourceRefs[userID] = nil }
            return count == 1
        }
        resourceRefs[userID]?[uri] = count - 1
        return false
    }

    /// A change notification of a user's child, from its unattributed stream or from a call it
    /// arrived on.
    public func publishChange(_ notification: JSONRPCMessage, userID: Int64) {
        guard let method = notification.method, Self.changeNotifications.contains(method) else { return }
        if method == "notifications/tools/list_changed", let child = userChild(of: userID) {
            let timeout = limits.initializeTimeout
            Task { await child.refreshTools(timeout: timeout) }
        }
        let uri = method == "notifications/resources/updated" ? notification.paramsString("uri") : nil
        for listener in listeners.values where listener.userID == userID && listener.filter.wants(method, uri: uri) {
            switch listener.budget.offer(notification.bytes.count) {
            case .accept: listener.continuation.yield(notification.bytes)
            case .overflow:
                // Finishing unregisters it (onTermination), like a reader that closed the stream.
                BridgeMetrics.overflowed(.listen)
                listener.continuation.finish()
            case .drop: break
            }
        }
    }

    /// A new child process of a user with resource listeners is subscribed to the same URIs.
    func resubscribe(userID: Int64, on child: HostedChild) {
        guard let uris = resourceRefs[userID]?.keys, !uris.isEmpty else { return }
        let timeout = limits.initializeTimeout
        let list = Array(uris)
        Task {
            for uri in list { await child.resourceRequest("resources/subscribe", uri: uri, timeout: timeout) }
        }
    }

    /// Shutdown (all), a user's or one client's revoked access: those listen streams end, and
    /// the endpoint sends each the graceful `SubscriptionsListenResult`.
    func endListeners(userID: Int64?, clientID: String?) {
        for (id, listener) in listeners where (userID == nil || listener.userID == userID)
            && (clientID == nil || listener.clientID == clientID)
        {
            listeners[id] = nil
            for uri in listener.filter.resourceSubscriptions { dropReference(userID: listener.userID, uri: uri) }
            listener.continuation.finish()
        }
    }
}
