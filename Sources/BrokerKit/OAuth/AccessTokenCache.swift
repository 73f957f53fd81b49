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
        var revokedClients: [UserClient: Date] = [:]
        /// When everything was last dropped (``removeAll(now:)``).
        var clearedAt: Date?
    }

    private struct UserClient: Hashable {
        let userID: Int64
        let clientID: String
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
            if let revoked = state.revokedClients[UserClient(userID: principal.userID, clientID: principal.clientID)],
               revoked >= lookupStarted { return }
            if let cleared = state.clearedAt, cleared >= lookupStarted { return }
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

    /// A grant revoked by another broker process: the notification names the user and the
    /// client, not the grant.
    func invalidate(userID: Int64, clientID: String, now: Date) {
        state.withLock { state in
            state.entries = state.entries.filter { $0.value.principal.userID != userID || $0.value.principal.clientID != clientID }
            state.revokedClients[UserClient(userID: userID, clientID: clientID)] = now
            forgetOldRevocations(&state, now: now)
        }
    }

    /// Drops every entry, when revocations may have been missed (the change listener reconnected).
    func removeAll(now: Date) {
        state.withLock { state in
            state.entries.removeAll()
            state.clearedAt = now
        }
    }

    private func evict(_ state: inout State, now: Date) {
        state.entries = state.entries.filter { now.timeIntervalSince($0.value.cachedAt) < ttl }
        if state.entries.count >= capacity { state.entries.removeAll() }
    }

    private func forgetOldRevocations(_ state: inout State, now: Date) {
        state.revokedGrants = state.revokedGrants.filter { now.timeIntervalSince($0.value) <= ttl }
        state.revokedUsers = state.revokedUsers.filter { now.timeIntervalSince($0.value) <= ttl }
        state.revokedClients = state.revokedClients.filter { now.timeIntervalSince($0.value) <= ttl }
    }
}
