import Foundation
import Synchronization

/// Which live replica holds a child key, as the store last said, for a short while. Without it
/// every request forwarded to the holder first read the session's record and made a claim
/// transaction that queued on the key's row lock: six statements per forwarded call, and
/// concurrent calls of one session serialised in the database (forwarded c=50 did a fifth of the
/// local calls/s). A memo entry lasts a fifth of the lapse (one heartbeat by default) and never
/// past the holder's own lapse; the hop forgets a holder it could not reach, so the next attempt
/// asks the store (and takes the child over once the holder lapsed).
///
/// Stale for at most that while: a holder that gave the key up meanwhile (its child was reaped)
/// gets the forwarded request and claims the key again itself, so no second child starts.
public final class ReplicaHolderMemo: Sendable {
    private struct Entry {
        let holder: ReplicaRecord
        let until: Date
    }

    /// Entries beyond this are not kept (a flood of distinct keys then simply asks the store).
    static let capacity = 10_000
    private let entries = Mutex<[String: Entry]>([:])
    /// When a full memo last dropped its expired entries: at most once a second, so a memo full
    /// of live entries is not copied on every request that would add one.
    private let sweptAt = Mutex<Date>(.distantPast)
    private let lapse: TimeInterval

    init(lapse: Duration) {
        self.lapse = lapse.seconds
    }

    /// The holder of `key` while its entry lasts.
    func holder(of key: String, now: Date) -> ReplicaRecord? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard now < entry.until else {
                entries[key] = nil
                return nil
            }
            return entry.holder
        }
    }

    /// The store just named `holder` for `key`.
    func remember(_ holder: ReplicaRecord, for key: String, now: Date) {
        let until = min(now.addingTimeInterval(lapse / 5), holder.heartbeatAt.addingTimeInterval(lapse))
        guard now < until else { return }
        entries.withLock { entries in
            if entries.count >= Self.capacity, sweepDue(now) { entries = entries.filter { now < $0.value.until } }
            guard entries.count < Self.capacity else { return }
            entries[key] = Entry(holder: holder, until: until)
        }
    }

    private func sweepDue(_ now: Date) -> Bool {
        sweptAt.withLock { sweptAt in
            guard now.timeIntervalSince(sweptAt) >= 1 else { return false }
            sweptAt = now
            return true
        }
    }

    /// The hop could not reach `replicaID`: every key it was remembered for asks the store again.
    public func forget(replicaID: String) {
        entries.withLock { entries in entries = entries.filter { $0.value.holder.id != replicaID } }
    }
}
