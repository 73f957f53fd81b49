import Foundation

/// `fjmcp-broker sessions` in replica mode, from the store rather than from the replica asked:
/// every live session record and every user's child claimed anywhere, each with the replica
/// holding its child ("-" when none runs), plus the children running on the replica asked that
/// are in neither (a claim missing, or a record ended while its child stops), and every replica
/// the database knows with its last beat. A child running on the replica asked also shows what
/// only that replica knows (idle time, requests in flight, pid, token expiry).
public struct AdminReplicaListing: Codable, Sendable, Equatable {
    public struct Child: Codable, Sendable, Equatable {
        /// "session" (a legacy session) or "user" (a user's shared child).
        public let kind: String
        public let user: String
        public let userID: Int64
        public let clients: [String]
        /// A session's age since its record was written, a user child's since its holder claimed
        /// it; for a child running on the replica asked, that child's age (as ``local`` has it).
        public let ageSeconds: Int64
        /// The child as the replica asked runs it; nil when it runs elsewhere or nowhere.
        public let local: ChildSummary?
        /// The replica holding the child's key; nil when nobody does.
        public let replicaID: String?
        /// That replica's address; nil when nobody holds the key or its row is gone.
        public let replicaAddress: String?

        enum CodingKeys: String, CodingKey {
            case kind, user, userID = "user_id", clients, ageSeconds = "age_s", local
            case replicaID = "replica_id", replicaAddress = "replica_address"
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

    /// Sessions oldest first, then users' children by key, then local children in neither.
    public let children: [Child]
    /// Newest beat first, as the store lists them.
    public let replicas: [Replica]

    /// Joins the live session records, the claims and the local children by their key in the
    /// store. `logins` names the users of children not running here (the records and claims
    /// carry only ids); a user missing from it is shown as `#<id>`.
    init(summaries: [ChildSummary], sessions: [SessionRecord], logins: [Int64: String], owners: [ChildOwnerRecord],
         replicas: [ReplicaRecord], selfID: String, now: Date) {
        let holders = Dictionary(owners.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        let addresses = Dictionary(replicas.map { ($0.id, $0.address) }, uniquingKeysWith: { first, _ in first })
        var local = Dictionary(summaries.compactMap { summary in Self.storeKey(of: summary).map { ($0, summary) } },
                               uniquingKeysWith: { first, _ in first })
        func child(key: String, kind: String, userID: Int64, clients: [String], since start: Date) -> Child {
            let here = local.removeValue(forKey: key)
            let holder = holders[key]?.replicaID
            return Child(kind: kind, user: here?.user ?? logins[userID] ?? "#\(userID)", userID: userID, clients: here?.clients ?? clients,
                         ageSeconds: here?.ageSeconds ?? max(0, Int64(now.timeIntervalSince(start).rounded(.down))), local: here,
                         replicaID: holder, replicaAddress: holder.flatMap { addresses[$0] })
        }
        var children = sessions.map { record in
            child(key: ChildPlacement.sessionKey(idHash: record.idHash), kind: ChildKey.session("").kind, userID: record.userID,
                  clients: [record.clientID], since: record.createdAt)
        }
        for owner in owners {
            guard let userID = ChildPlacement.userID(ofKey: owner.key) else { continue }
            children.append(child(key: owner.key, kind: ChildKey.user(0).kind, userID: userID, clients: [], since: owner.claimedAt))
        }
        for summary in summaries {
            guard let key = Self.storeKey(of: summary), local[key] != nil else { continue }
            children.append(child(key: key, kind: summary.kind, userID: summary.userID, clients: summary.clients, since: now))
        }
        self.children = children
        let counts = owners.reduce(into: [String: Int]()) { $0[$1.replicaID, default: 0] += 1 }
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

    /// The children as table rows under ``childHeader``: those running on the replica asked in
    /// full, the others with "-" where only their replica knows (a user child's clients too).
    public var childRows: [[String]] {
        children.map { child in
            let columns = child.local?.tableRow
                ?? [child.kind, child.user, child.clients.isEmpty ? "-" : child.clients.joined(separator: ","), "\(child.ageSeconds)s",
                    "-", "-", "-", "-"]
            return columns + [child.replicaID ?? "-", child.replicaAddress ?? "-"]
        }
    }

    public static let childHeader = ChildSummary.tableHeader + ["REPLICA", "REPLICA_ADDRESS"]

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

extension ChildSummary {
    /// The columns of `fjmcp-broker sessions`, one row per child.
    public static let tableHeader = ["KIND", "USER", "CLIENTS", "AGE", "IDLE", "BUSY", "CHILD_PID", "TOKEN_EXPIRES"]

    /// This child's row under ``tableHeader``.
    public var tableRow: [String] {
        [kind, user, clients.joined(separator: ","), "\(ageSeconds)s", "\(idleSeconds)s", "\(busy)",
         childPID.map { "\($0)" } ?? "-", tokenExpiresAt.map { $0.ISO8601Format() } ?? "-"]
    }
}

extension AdminServer {
    /// The `/replicas` answer; nil outside replica mode. Users are looked up by id only for
    /// children not running here (a local child knows its user's login).
    func replicaListing() async throws -> AdminReplicaListing? {
        guard let placement else { return nil }
        let sessions = try await store.liveSessions()
        let owners = try await placement.store.childOwners()
        let replicas = try await placement.store.replicas()
        let summaries = await host.summaries()
        var logins = Dictionary(summaries.map { ($0.userID, $0.user) }, uniquingKeysWith: { first, _ in first })
        for userID in Set(sessions.map(\.userID) + owners.compactMap { ChildPlacement.userID(ofKey: $0.key) }) where logins[userID] == nil {
            logins[userID] = try await store.user(id: userID)?.login
        }
        return AdminReplicaListing(summaries: summaries, sessions: sessions, logins: logins, owners: owners, replicas: replicas,
                                   selfID: placement.identity.id, now: Date())
    }
}
