import Foundation
import Synchronization

/// A small, short-lived cache of validated access tokens, so `/mcp` traffic does not hit the
/// store on every request. Revocation must win immediately: invalidated grants and users are
/// remembered for one TTL, so a lookup that started before the revocation cannot re-insert a
/// stale entry after it.
///
/// A hit is on every `/mcp` request, so the state sits behind a `Mutex` held for one dictionary
/// lookup rather than in an actor: no hop off the connection's event loop, no suspension.
final class AccessTokenCache: Sendable {
    private struct Entry {
        let principal: AuthenticatedPrincipal
        let cachedAt: Date
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var revokedGrants: [String: Date] = [:]
        var revokedUsers: [Int64: Date] = [:]
    }

    private let ttl: TimeInterval
    private let capacity: Int
    private let state = Mutex(State())

    init(ttl: TimeInterval, capacity: Int) {
        self.ttl = ttl
        self.capacity = capacity
    }

    func principal(hash: String, now: Date) -> AuthenticatedPrincipal? {
        state.withLock { state in
            guard let entry = state.entries[hash] else { return nil }
            guard now.timeIntervalSince(entry.cachedAt) < ttl, entry.principal.expiresAt > now else {
                state.entries[hash] = nil
                return nil
            }
            return entry.principal
        }
    }

    /// Stores a principal looked up at `lookupStarted`, unless its grant or user was revoked since.
    func insert(hash: String, principal: AuthenticatedPrincipal, lookupStarted: Date, now: Date) {
        state.withLock { state in
            if let revoked = state.revokedGrants[principal.grantID], revoked >= lookupStarted { return }
            if let revoked = state.revokedUsers[principal.userID], revoked >= lookupStarted { return }
            if state.entries.count >= capacity { evict(&state, now: now) }
            state.entries[hash] = Entry(principal: principal, cachedAt: now)
        }
    }

    func invalidate(grantID: String, now: Date) {
        state.withLock { state in
            state.entries = state.entries.filter { $0.value.principal.grantID != grantID }
            state.revokedGrants[grantID] = now
            forgetOldRevocations(&state, now: now)
        }
    }

    func invalidate(userID: Int64, now: Date) {
        state.withLock { state in
            state.entries = state.entries.filter { $0.value.principal.userID != userID }
            state.revokedUsers[userID] = now
            forgetOldRevocations(&state, now: now)
        }
    }

    private func evict(_ state: inout State, now: Date) {
        state.entries = state.entries.filter { now.timeIntervalSince($0.value.cachedAt) < ttl }
        if state.entries.count >= capacity { state.entries.removeAll() }
    }

    private func forgetOldRevocations(_ state: inout State, now: Date) {
        state.revokedGrants = state.revokedGrants.filter { now.timeIntervalSince($0.value) <= ttl }
        state.revokedUsers = state.revokedUsers.filter { now.timeIntervalSince($0.value) <= ttl }
    }
}
