import Foundation

/// One broker process of several that share a PostgreSQL database (replica mode,
/// `FJMCP_REPLICA_URL`). Its id is new at every start, so a replica that was killed and came
/// back never mistakes the claims of its previous life for its own.
public struct ReplicaRecord: Sendable, Equatable, Codable {
    public var id: String
    /// Where the other replicas reach this one for the forwarding hop, e.g. `http://10.0.0.5:8080`.
    public var address: String
    public var startedAt: Date
    /// Its last heartbeat: a replica whose beat is older than the lapse is presumed dead and its
    /// children may be taken over.
    public var heartbeatAt: Date

    public init(id: String, address: String, startedAt: Date, heartbeatAt: Date) {
        self.id = id
        self.address = address
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
    }
}

/// Which replica holds a child: `key` names the child (`session:<id hash>` for a legacy
/// session's child, `user:<user id>` for a user's shared child of the 2026-07-28 era).
public struct ChildOwnerRecord: Sendable, Equatable {
    public var key: String
    public var replicaID: String
    public var claimedAt: Date

    public init(key: String, replicaID: String, claimedAt: Date) {
        self.key = key
        self.replicaID = replicaID
        self.claimedAt = claimedAt
    }
}

/// The outcome of claiming a child for this replica.
public enum ChildClaim: Sendable, Equatable {
    /// This replica holds it now: nobody did, it already did, or the holder's heartbeat lapsed
    /// (a take-over, as after a restart).
    case claimed
    /// Another replica with a live heartbeat holds it: forward the request there.
    case heldBy(ReplicaRecord)
}

/// Where children live when several replicas share one database. Exactly one replica holds a
/// child at a time; claims are single statements (CAS in SQL) so two replicas that meet a lapsed
/// holder at once cannot both take over. Implemented by both engines (the store suite runs on
/// both), used only in replica mode.
public protocol ReplicaStore: Sendable {
    /// Inserts or refreshes `replica`'s row (`heartbeatAt` is the beat). Returns the keys the
    /// store says it holds: a replica ends local children whose key is missing (another replica
    /// took them over while its beats did not arrive), so that one child never runs twice.
    func beat(_ replica: ReplicaRecord) async throws -> Set<String>
    /// Claims `key` for `replicaID` in one statement: succeeds when nobody holds it, the replica
    /// already does, or the holder's replica row is gone or its last beat is before
    /// `lapsedBefore` (and so is the holder's claim: a claim is a sign of life too); otherwise
    /// names the live holder.
    func claimChild(key: String, replicaID: String, now: Date, lapsedBefore: Date) async throws -> ChildClaim
    /// Gives `key` up if `replicaID` holds it (its child ended here); a no-op otherwise.
    func releaseChild(key: String, replicaID: String) async throws
    /// A replica that stops cleanly: its row and all its claims go, so the others take its
    /// sessions over at the next request instead of after the lapse.
    func removeReplica(id: String) async throws
    /// Every replica row, newest beat first (`fjmcp-broker sessions`, readiness).
    func replicas() async throws -> [ReplicaRecord]
    /// Every claim (`fjmcp-broker sessions` shows which replica holds each session's child).
    func childOwners() async throws -> [ChildOwnerRecord]
    /// Deletes replica rows whose beat is before `before`, and their claims with them
    /// (maintenance): a replica killed without a clean stop would otherwise keep its row and
    /// claims for ever. Once its beat lapsed, any replica may take its claims over, so a cutoff
    /// no later than now less the lapse removes nothing a live replica relies on.
    func purgeReplicas(lapsedBefore before: Date) async throws -> Int
}
