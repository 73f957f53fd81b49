import Foundation

/// A small, short-lived cache of validated access tokens, so `/mcp` traffic does not hit the
/// store on every request. Revocation must win immediately: invalidated grants and users are
/// remembered for one TTL, so a lookup that started before the revocation cannot re-insert a
/// stale entry after it.
actor AccessTokenCache {
    private struct Entry {
        let principal: AuthenticatedPrincipal
        let cachedAt: Date
    }

    private let ttl: TimeInterval
    private let capacity: Int
    private var entries: [String: Entry] = [:]
    private var revokedGrants: [String: Date] = [:]
    private var revokedUsers: [Int64: Date] = [:]

    init(ttl: TimeInterval, capacity: Int) {
        self.ttl = ttl
        self.capacity = capacity
    }

    func principal(hash: String, now: Date) -> AuthenticatedPrincipal? {
        guard let entry = entries[hash] else { return nil }
        guard now.timeIntervalSince(entry.cachedAt) < ttl, entry.principal.expiresAt > now else {
            entries[hash] = nil
            return nil
        }
        return entry.principal
    }

    /// Stores a principal looked up at `lookupStarted`, unless its grant or user was revoked since.
    func insert(hash: String, principal: AuthenticatedPrincipal, lookupStarted: Date, now: Date) {
        if let revoked = revokedGrants[principal.grantID], revoked >= lookupStarted { return }
        if let revoked = revokedUsers[principal.userID], revoked >= lookupStarted { return }
        if entries.count >= capacity { evict(now: now) }
        entries[hash] = Entry(principal: principal, cachedAt: now)
    }

    func invalidate(grantID: String, now: Date) {
        entries = entries.filter { $0.value.principal.grantID != grantID }
        revokedGrants[grantID] = now
        forgetOldRevocations(now: now)
    }

    func invalidate(userID: Int64, now: Date) {
        entries = entries.filter { $0.value.principal.userID != userID }
        revokedUsers[userID] = now
        forgetOldRevocations(now: now)
    }

    private func evict(now: Date) {
        entries = entries.filter { now.timeIntervalSince($0.value.cachedAt) < ttl }
        if entries.count >= capacity { entries.removeAll() }
    }

    private func forgetOldRevocations(now: Date) {
        revokedGrants = revokedGrants.filter { now.timeIntervalSince($0.value) <= ttl }
        revokedUsers = revokedUsers.filter { now.timeIntervalSince($0.value) <= ttl }
    }
}
