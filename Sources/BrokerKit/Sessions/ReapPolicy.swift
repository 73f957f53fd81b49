/// When a hosted child is ended without anyone asking, as a pure decision over its numbers.
/// A session's maximum lifetime is a hard bound on the conversation, busy or not; a user child is
/// only a cache of the user's access, so its age limit waits until it is idle (its requests then
/// go to a fresh child). An idle user child is kept while its user listens for changes: it is
/// what would announce them.
struct ReapPolicy: Sendable {
    let idleTimeout: Duration
    let maxLifetime: Duration

    struct Facts: Sendable {
        var key: ChildKey
        var age: Duration
        var idle: Duration
        var inFlight: Int
        var hasListeners = false
    }

    func decide(_ facts: Facts) -> SessionEndReason? {
        switch facts.key {
        case .session:
            if facts.age > maxLifetime { return .maxLifetime }
            if facts.inFlight == 0, facts.idle > idleTimeout { return .idle }
        case .user:
            guard facts.inFlight == 0 else { return nil }
            if facts.age > maxLifetime { return .maxLifetime }
            if facts.idle > idleTimeout, !facts.hasListeners { return .idle }
        }
        return nil
    }
}
