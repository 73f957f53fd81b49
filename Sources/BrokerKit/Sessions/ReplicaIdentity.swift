import Foundation

/// This process as one replica among several on a shared PostgreSQL database. The id is drawn
/// at every start: a replica killed and started again is a new replica, so the claims of its
/// previous life lapse with that life's heartbeat instead of being mistaken for its own.
public struct ReplicaIdentity: Sendable, Equatable {
    public let id: String
    /// Where the other replicas reach this one (`FJMCP_REPLICA_URL`), without a trailing slash.
    public let address: String
    public let startedAt: Date

    public init(address: String, id: String = Base64URL.encode(OpaqueToken.randomBytes(12)), startedAt: Date = Date()) {
        self.id = id
        self.address = address.hasSuffix("/") ? String(address.dropLast()) : address
        self.startedAt = startedAt
    }

    /// The record its heartbeat writes.
    public func record(beatAt now: Date) -> ReplicaRecord {
        ReplicaRecord(id: id, address: address, startedAt: startedAt, heartbeatAt: now)
    }
}
