import Foundation

/// `fjmcp-broker sessions` in replica mode: this replica's children, each with the replica the
/// store says holds it, and every replica the database knows with its last beat. Normally a
/// local child's holder is this replica; anything else shows a child another replica took over
/// (it ends at this replica's next beat) or one whose claim is missing.
public struct AdminReplicaListing: Codable, Sendable, Equatable {
    public struct Child: Codable, Sendable, Equatable {
        public let summary: ChildSummary
        /// The replica holding the child's key; nil when nobody does.
        public let replicaID: String?
        /// That replica's address; nil when nobody holds the key or its row is gone.
        public let replicaAddress: String?

        enum CodingKeys: String, CodingKey {
            case summary, replicaID = "replica_id", replicaAddress = "replica_address"
        }
    }

    public struct Replica: Codable, Sendable, Equatable {
        public let record: ReplicaRecord
        /// Keys it holds, across the database.
        public let children: Int
        /// Whether it is the replica that answered.
        public let isSelf: Bool

        enum CodingKeys: String, CodingKey {
            case record, children, isSelf = "self"
        }
    }

    public let children: [Child]
    /// Newest beat first, as the store lists them.
    public let replicas: [Replica]

    /// Joins the local children with the store's claims and replica rows.
    init(summaries: [ChildSummary], owners: [ChildOwnerRecord], replicas: [ReplicaRecord], selfID: String) {
        let holders = Dictionary(owners.map { ($0.key, $0.replicaID) }, uniquingKeysWith: { first, _ in first })
        let addresses = Dictionary(replicas.map { ($0.id, $0.address) }, uniquingKeysWith: { first, _ in first })
        let counts = owners.reduce(into: [String: Int]()) { $0[$1.replicaID, default: 0] += 1 }
        children = summaries.map { summary in
            let holder = Self.storeKey(of: summary).flatMap { holders[$0] }
            return Child(summary: summary, replicaID: holder, replicaAddress: holder.flatMap { addresses[$0] })
        }
        self.replicas = replicas.map { Replica(record: $0, children: counts[$0.id, default: 0], isSelf: $0.id == selfID) }
    }

    /// The child's key in the store, as ``ChildPlacement`` claims it; nil for a kind this
    /// version does not know.
    private static func storeKey(of summary: ChildSummary) -> String? {
        switch summary.kind {
        case ChildKey.session("").kind: ChildPlacement.storeKey(.session(summary.sessionID))
        case ChildKey.user(0).kind: ChildPlacement.storeKey(.user(summary.userID))
        default: nil
        }
    }

    /// The replicas as table rows under ``replicaHeader``; `now` gives each beat's age.
    public func replicaRows(now: Date) -> [[String]] {
        replicas.map { replica in
            let age = max(0, Int64(now.timeIntervalSince(replica.record.heartbeatAt).rounded(.down)))
            return [replica.record.id + (replica.isSelf ? " (this)" : ""), replica.record.address,
                    replica.record.startedAt.ISO8601Format(), replica.record.heartbeatAt.ISO8601Format(), "\(age)s", "\(replica.children)"]
        }
    }

    public static let replicaHeader = ["REPLICA", "ADDRESS", "STARTED", "LAST_BEAT", "BEAT_AGE", "CHILDREN"]
}

extension AdminServer {
    /// The `/replicas` answer; nil outside replica mode.
    func replicaListing() async throws -> AdminReplicaListing? {
        guard let placement else { return nil }
        let owners = try await placement.store.childOwners()
        let replicas = try await placement.store.replicas()
        return AdminReplicaListing(summaries: await host.summaries(), owners: owners, replicas: replicas, selfID: placement.identity.id)
    }
}
