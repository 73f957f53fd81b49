import ServiceLifecycle

/// Revocations and upstream failures reach the trail through the interfaces that already
/// announce them, so the OAuth and upstream code carries no audit calls of its own.
extension AuditTrail {
    /// The user's login for a record, when the store still knows them.
    fileprivate static func login(of userID: Int64, in store: any BrokerStore) async -> String {
        (try? await store.user(id: userID))?.login ?? "#\(userID)"
    }
}

/// A ``GrantRevocationObserver`` that records each revoked grant, then tells the next observer
/// (the child host, which ends what ran on the grant).
public struct AuditedRevocations: GrantRevocationObserver {
    let next: any GrantRevocationObserver
    let trail: AuditTrail
    let store: any BrokerStore

    public init(next: any GrantRevocationObserver, trail: AuditTrail, store: any BrokerStore) {
        self.next = next
        self.trail = trail
        self.store = store
    }

    public func grantRevoked(userID: Int64, clientID: String) async {
        if trail.isEnabled {
            trail.record(AuditRecord(event: .revocation, user: await AuditTrail.login(of: userID, in: store), client: clientID,
                                     outcome: "ok", detail: "grant"))
        }
        await next.grantRevoked(userID: userID, clientID: clientID)
    }
}

/// Records each user whose Forgejo authorization died (a refresh Forgejo refused for good), as
/// the token manager announces them to every listener.
public struct AuditUpstreamEvents: Service {
    let events: @Sendable () async -> AsyncStream<UpstreamTokenEvent>
    let trail: AuditTrail
    let store: any BrokerStore

    public init(manager: UpstreamTokenManager, trail: AuditTrail, store: any BrokerStore) {
        self.events = { await manager.events() }
        self.trail = trail
        self.store = store
    }

    public func run() async throws {
        guard trail.isEnabled else { return }
        try? await cancelWhenGracefulShutdown { [self] in
            for await event in await events() { await record(event) }
        }
    }

    /// A death becomes a `refresh_failure` record; refreshed tokens are no security event.
    func record(_ event: UpstreamTokenEvent) async {
        guard case .dead(let userID, let reason) = event else { return }
        trail.record(AuditRecord(event: .refreshFailure, user: await AuditTrail.login(of: userID, in: store), client: nil,
                                 outcome: "dead", detail: reason))
    }
}
