/// Why a ``ReplicaStore`` could not answer a claim.
public enum ReplicaStoreError: Error, Equatable, CustomStringConvertible {
    /// The claiming replica has no row: a claim references its replica's row (so it goes with
    /// it), and a replica writes the row with its first beat, before it claims anything. Also
    /// the outcome when the row was removed meanwhile (`removeReplica`, or purged after a long
    /// silence): the next beat writes it again.
    case unknownReplica(id: String)
    /// The key changed hands twice while one claim looked at it (claimed, then released); the
    /// caller may simply try again.
    case contended(key: String)

    public var description: String {
        switch self {
        case .unknownReplica(let id): "replica \(id) has no heartbeat row; it must beat before it claims children"
        case .contended(let key): "the claim of \(key) kept changing hands; try again"
        }
    }
}
