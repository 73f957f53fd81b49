import Foundation

/// Stores the Forgejo token set a login's code exchange obtained, so that of two logins of one
/// user the later exchange's set is kept, never an older one over a newer one.
///
/// Why an order is needed: Forgejo bumps the grant's counter at every code exchange and
/// refresh, which retires every refresh token issued before (forgejo-notes A7), so only the
/// newest set can ever be refreshed. Two logins of one user (two browsers, two clients) race
/// from their exchange to this write (the user lookup; for a new user also the sign-in policy's
/// membership lists), and a plain overwrite let the slower, older one win: the user's next
/// refresh failed and they had to sign in again.
///
/// The rule: a set records when its lineage's code exchange was answered
/// (`UpstreamTokenSet.loginExchangedAt`, carried forward by refreshes), and a login writes only
/// over a set whose exchange was answered no later than its own, by compare-and-swap on the
/// row's version. Two exchanges in flight at the very same moment are ordered by their answers'
/// arrival, which Forgejo's processing order normally matches.
///
/// Refreshes need no such rule (`UpstreamRefresher`): a refresh that succeeded at Forgejo used
/// the newest refresh token, so it ran before any code exchange whose set is not yet stored.
/// Its swap, a compare-and-swap against the version it read, either lands first (and this
/// write replaces it, its lineage being older) or after this write, and then loses and adopts
/// this set. A refresh that reached Forgejo after the exchange finds its token retired, re-reads
/// the store and adopts this set once written.
///
/// Logins of one user are written one after the other in this process, so two first logins
/// (no row yet) cannot both insert. Across broker processes sharing a store, two first logins
/// of one user inserting at the same instant remain unordered (the store has no
/// insert-if-absent): the later insert wins.
public actor UpstreamLoginWriter {
    /// What became of a login's set.
    public enum Outcome: Sendable, Equatable {
        /// Stored as this version.
        case stored(version: Int64)
        /// Not stored: the stored set (this version) comes from a later exchange, and Forgejo
        /// has already retired this login's refresh token. Its access token stays valid.
        case superseded(version: Int64)
    }

    private let store: any BrokerStore
    private let box: SecretBox
    /// Writes are ordered per user; the tail of each user's queue.
    private var queues: [Int64: Task<Void, Never>] = [:]
    /// Lost compare-and-swaps before giving up; each means another writer stored meanwhile.
    private static let attempts = 8

    /// - Parameter box: the `UpstreamTokenSet.purpose` box the token manager opens sets with.
    public init(store: any BrokerStore, box: SecretBox) {
        self.store = store
        self.box = box
    }

    /// Stores `set` (which must carry its `loginExchangedAt`) unless a later login's set is
    /// stored. The write runs to its end even when the caller goes away: the exchange already
    /// retired the stored refresh token at Forgejo, so a write left undone logs the user out.
    public func store(_ set: UpstreamTokenSet, userID: Int64, now: Date) async throws(UpstreamTokenFailure) -> Outcome {
        let previous = queues[userID]
        let write = Task { () -> Result<Outcome, UpstreamTokenFailure> in
            await previous?.value
            do throws(UpstreamTokenFailure) { return .success(try await self.write(set, userID: userID, now: now)) } catch {
                return .failure(error)
            }
        }
        let tail = Task { _ = await write.value }
        queues[userID] = tail
        defer { if queues[userID] == tail { queues[userID] = nil } }
        return try await write.value.get()
    }

    private func write(_ set: UpstreamTokenSet, userID: Int64, now: Date) async throws(UpstreamTokenFailure) -> Outcome {
        let sealed = set.seal(with: box, userID: userID)
        do {
            for _ in 0..<Self.attempts {
                guard let record = try await store.upstreamTokens(userID: userID) else {
                    return .stored(version: try await store.replaceUpstreamTokens(
                        userID: userID, sealed: sealed, accessExpiresAt: set.accessExpiresAt, now: now))
                }
                if isLater(record, than: set) { return .superseded(version: record.version) }
                if let version = try await store.swapUpstreamTokens(
                    userID: userID, expectedVersion: record.version, sealed: sealed, accessExpiresAt: set.accessExpiresAt, now: now) {
                    return .stored(version: version)
                }
            }
        } catch {
            throw .unavailable(reason: "store_unavailable")
        }
        throw .unavailable(reason: "upstream_tokens_contended")
    }

    /// Whether the stored set's lineage began with a later exchange than `set`'s. A set that no
    /// longer opens (a lost key) or carries no exchange time is older than any login.
    private func isLater(_ record: UpstreamTokenRecord, than set: UpstreamTokenSet) -> Bool {
        guard let mine = set.loginExchangedAt,
              let stored = try? UpstreamTokenSet.open(record.sealed, with: box, userID: record.userID).loginExchangedAt
        else { return false }
        return Self.milliseconds(stored) > Self.milliseconds(mine)
    }

    /// A sealed set's times pass through JSON as floating-point seconds since 1970, which can
    /// move them by a rounding error: two times are compared to the millisecond, so a stored
    /// time equal to ours never counts as later.
    private static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000).rounded())
    }
}
