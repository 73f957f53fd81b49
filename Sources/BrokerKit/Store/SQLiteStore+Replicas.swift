import Foundation
import GRDB

/// Replica mode's tables on SQLite. Replica mode itself needs PostgreSQL (several processes on
/// one SQLite file is not a deployment the broker supports), but the semantics are the same on
/// both engines and the store suite holds both to them. SQLite has one writer: every method here
/// is one write transaction, so a claim and the read that explains a refusal see the same state.
///
/// Times are epoch milliseconds (other tables keep seconds): a lapse of a second or two is
/// judged as set, neither a second late nor early.
extension SQLiteStore: ReplicaStore {
    public func beat(_ replica: ReplicaRecord) async throws -> Set<String> {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO replicas (id, address, started_ms, heartbeat_ms) VALUES (?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET address = excluded.address, heartbeat_ms = excluded.heartbeat_ms
                """, arguments: [replica.id, replica.address, replica.startedAt.epochMilliseconds, replica.heartbeatAt.epochMilliseconds])
            return Set(try String.fetchAll(db, sql: "SELECT key FROM child_owners WHERE replica_id = ?", arguments: [replica.id]))
        }
    }

    /// The claim is one UPSERT whose update only happens for the holder itself or a holder that
    /// is gone or lapsed; the insert only for a registered claimant (see ``ReplicaStoreError``).
    /// A claim made within the lapse counts as a sign of life like a beat (see PostgreSQL's
    /// extension for why), so only a claim older than the lapse can be taken over.
    public func claimChild(key: String, replicaID: String, now: Date, lapsedBefore: Date) async throws -> ChildClaim {
        try await pool.write { db in
            let won = try String.fetchOne(db, sql: """
                INSERT INTO child_owners (key, replica_id, claimed_ms)
                SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM replicas WHERE id = ?)
                ON CONFLICT (key) DO UPDATE SET replica_id = excluded.replica_id, claimed_ms = excluded.claimed_ms
                WHERE child_owners.replica_id = excluded.replica_id
                   OR (child_owners.claimed_ms < ?
                       AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.id = child_owners.replica_id AND r.heartbeat_ms >= ?))
                RETURNING replica_id
                """, arguments: [key, replicaID, now.epochMilliseconds, replicaID, lapsedBefore.epochMilliseconds, lapsedBefore.epochMilliseconds])
            if won != nil { return .claimed }
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM replicas WHERE id = ?)", arguments: [replicaID]) == true else {
                throw ReplicaStoreError.unknownReplica(id: replicaID)
            }
            // One writer: the holder that refused the claim is still there.
            guard let holder = try Row.fetchOne(db, sql: """
                SELECT r.* FROM child_owners o JOIN replicas r ON r.id = o.replica_id WHERE o.key = ?
                """, arguments: [key]).map(ReplicaRecord.init(row:))
            else { throw ReplicaStoreError.contended(key: key) }
            return .heldBy(holder)
        }
    }

    public func releaseChild(key: String, replicaID: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM child_owners WHERE key = ? AND replica_id = ?", arguments: [key, replicaID])
        }
    }

    /// Its claims go with the row (ON DELETE CASCADE).
    public func removeReplica(id: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM replicas WHERE id = ?", arguments: [id])
        }
    }

    public func replicas() async throws -> [ReplicaRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM replicas ORDER BY heartbeat_ms DESC, id").map(ReplicaRecord.init(row:))
        }
    }

    public func childOwners() async throws -> [ChildOwnerRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM child_owners ORDER BY key").map(ChildOwnerRecord.init(row:))
        }
    }

    /// Its claims go with the row (ON DELETE CASCADE).
    public func purgeReplicas(lapsedBefore before: Date) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM replicas WHERE heartbeat_ms < ?", arguments: [before.epochMilliseconds])
            return db.changesCount
        }
    }
}
