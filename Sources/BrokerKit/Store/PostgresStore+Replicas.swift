import Foundation
import PostgresNIO

/// Replica mode's tables on PostgreSQL, where several replicas write them at once. Same SQL and
/// semantics as ``SQLiteStore``'s extension (epoch milliseconds). Replicas' clocks must agree to well within the lapse: a beat is stamped
/// with its writer's clock and judged with the claimant's.
extension PostgresStore: ReplicaStore {
    /// One statement: the row upserted, then the keys read (the claims are not changed by it).
    public func beat(_ replica: ReplicaRecord) async throws -> Set<String> {
        let rows = try await rows("""
            WITH beat AS (
                INSERT INTO replicas (id, address, started_ms, heartbeat_ms)
                VALUES (\(replica.id), \(replica.address), \(replica.startedAt.epochMilliseconds), \(replica.heartbeatAt.epochMilliseconds))
                ON CONFLICT (id) DO UPDATE SET address = excluded.address, heartbeat_ms = excluded.heartbeat_ms
            )
            SELECT key FROM child_owners WHERE replica_id = \(replica.id)
            """)
        return Set(try rows.map { try $0.column("key") as String })
    }

    /// The claim is one atomic UPSERT: its update happens only for the holder itself or a holder
    /// that is gone or lapsed, its insert only for a registered claimant. Two replicas claiming one
    /// key at once queue on its row; the second re-checks the condition against the first's write
    /// and sees a live holder, so exactly one wins.
    ///
    /// The second re-checks the key's row as the first wrote it, but reads `replicas` as of its own
    /// statement's start: a replica whose first beat committed after that would look gone, and its
    /// fresh claim would be taken at once. A claim within the lapse therefore counts as a sign of
    /// life like a beat (its holder was registered and beating when it made it): only a claim older
    /// than the lapse, whose holder's beat lapsed too, can be taken over.
    ///
    /// A refused claim keeps the key's row locked until this transaction ends, so the holder read
    /// next is the one that refused. The claimant's row is read first: without it the insert never
    /// happens, and the refusal is the claimant's, not the holder's. Should the key's row have gone
    /// between the two statements all the same, the claim is tried once more.
    public func claimChild(key: String, replicaID: String, now: Date, lapsedBefore: Date) async throws -> ChildClaim {
        let logger = self.logger
        return try await transaction { connection in
            for _ in 0..<2 {
                let won = try await connection.rows("""
                    INSERT INTO child_owners (key, replica_id, claimed_ms)
                    SELECT \(key), \(replicaID), \(now.epochMilliseconds) WHERE EXISTS (SELECT 1 FROM replicas WHERE id = \(replicaID))
                    ON CONFLICT (key) DO UPDATE SET replica_id = excluded.replica_id, claimed_ms = excluded.claimed_ms
                    WHERE child_owners.replica_id = excluded.replica_id
                       OR (child_owners.claimed_ms < \(lapsedBefore.epochMilliseconds)
                           AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.id = child_owners.replica_id
                                                                    AND r.heartbeat_ms >= \(lapsedBefore.epochMilliseconds)))
                    RETURNING replica_id
                    """, logger: logger)
                if !won.isEmpty { return .claimed }
                guard try await !connection.rows("SELECT 1 FROM replicas WHERE id = \(replicaID)", logger: logger).isEmpty else {
                    throw ReplicaStoreError.unknownReplica(id: replicaID)
                }
                if let holder = try await connection.rows("""
                    SELECT r.* FROM child_owners o JOIN replicas r ON r.id = o.replica_id WHERE o.key = \(key)
                    """, logger: logger).first {
                    return .heldBy(try ReplicaRecord(row: holder))
                }
            }
            throw ReplicaStoreError.contended(key: key)
        }
    }

    public func releaseChild(key: String, replicaID: String) async throws {
        try await rows("DELETE FROM child_owners WHERE key = \(key) AND replica_id = \(replicaID)")
    }

    /// Its claims go with the row (ON DELETE CASCADE).
    public func removeReplica(id: String) async throws {
        try await rows("DELETE FROM replicas WHERE id = \(id)")
    }

    public func replicas() async throws -> [ReplicaRecord] {
        try await rows("SELECT * FROM replicas ORDER BY heartbeat_ms DESC, id").map(ReplicaRecord.init(row:))
    }

    public func childOwners() async throws -> [ChildOwnerRecord] {
        try await rows("SELECT * FROM child_owners ORDER BY key").map(ChildOwnerRecord.init(row:))
    }

    /// Its claims go with the row (ON DELETE CASCADE).
    public func purgeReplicas(lapsedBefore before: Date) async throws -> Int {
        try await rows("DELETE FROM replicas WHERE heartbeat_ms < \(before.epochMilliseconds) RETURNING 1").count
    }
}
