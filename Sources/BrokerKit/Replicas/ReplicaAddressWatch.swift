import Foundation

/// Finds another live replica writing its beats under this replica's own address
/// (`FJMCP_REPLICA_URL` given to two replicas). Nothing else would notice: the hop takes a holder
/// at its own address for its own previous life and waits for a lapse that never comes.
///
/// A row at this address is alive only once its beat has moved between two looks: a previous
/// life (killed, restarted) never beats again. Beat times are compared only with earlier beat
/// times of the same row, never with this process's clock, so a skewed or stepped clock between
/// hosts that share an address (a floating IP) cannot make a healthy restart look like a clash.
/// Of two live replicas the later one (start time, then id) gives way, so exactly one serves on.
struct ReplicaAddressWatch {
    enum Finding: Equatable {
        case none
        /// An older live replica has this address: this one must stop.
        case taken(by: ReplicaRecord)
        /// A replica started after this one has its address (it stops once it sees this one
        /// beat); said once per replica.
        case sharedWithLater(ReplicaRecord)
    }

    let identity: ReplicaIdentity
    /// Each other row at this address, with the beat it had when last seen.
    private var seen: [String: Date] = [:]
    private var reported: Set<String> = []

    init(identity: ReplicaIdentity) {
        self.identity = identity
    }

    /// Looks at every replica row the store has (after a beat of this replica's).
    mutating func observe(_ rows: [ReplicaRecord]) -> Finding {
        var finding = Finding.none
        var next: [String: Date] = [:]
        for other in rows where other.id != identity.id && other.address == identity.address {
            next[other.id] = other.heartbeatAt
            guard Self.startsBefore(other, identity) else {
                // Started after this one, so not its previous life: said at first sight, as the
                // later one stops within a beat or two.
                if reported.insert(other.id).inserted { finding = .sharedWithLater(other) }
                continue
            }
            if let before = seen[other.id], other.heartbeatAt > before { return .taken(by: other) }
        }
        seen = next
        return finding
    }

    /// In milliseconds, as the store keeps start times (two starts in one millisecond are
    /// ordered by id on both sides).
    private static func startsBefore(_ other: ReplicaRecord, _ identity: ReplicaIdentity) -> Bool {
        (other.startedAt.epochMilliseconds, other.id) < (identity.startedAt.epochMilliseconds, identity.id)
    }
}

/// Another live replica has this replica's `FJMCP_REPLICA_URL` and started first: this one stops
/// (see ``ReplicaAddressWatch``).
public struct ReplicaAddressTaken: Error, CustomStringConvertible {
    public let address: String
    public let other: ReplicaRecord

    public var description: String {
        "FJMCP_REPLICA_URL \(address) is also the address of replica \(other.id) (started \(other.startedAt), "
            + "beating): every replica needs its own address, the one the others reach it at"
    }
}
