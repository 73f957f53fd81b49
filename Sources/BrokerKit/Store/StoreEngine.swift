import Logging

/// A store the broker can run on: its state, its audit trail, the replicas' tables (used only
/// in replica mode), and an orderly close. The broker and the tools that read the database
/// directly (`audit`) open one through ``DatabaseLocation/open(logger:)`` and never name an
/// engine.
public protocol StoreEngine: BrokerStore, AuditStore, ReplicaStore {
    /// Closes the database once nothing uses it any more (after the last request finished).
    func shutdown() async
}

extension SQLiteStore: StoreEngine {
    public func shutdown() async {
        try? close()
    }
}

extension PostgresStore: StoreEngine {}

/// Why the store could not be opened: one line for the operator, without secrets.
public enum StoreOpenError: Error, CustomStringConvertible {
    case sqlite(SQLiteStore.OpenError)
    case postgres(PostgresStore.OpenError)

    public var description: String {
        switch self {
        case .sqlite(let error): "\(error)"
        case .postgres(let error): "\(error)"
        }
    }
}

extension DatabaseLocation {
    /// Opens the store, applying pending migrations.
    public func open(logger: Logger) async throws(StoreOpenError) -> any StoreEngine {
        switch self {
        case .sqlite(let path):
            do { return try SQLiteStore(path: path) } catch { throw .sqlite(error) }
        case .postgres(let location):
            do { return try await PostgresStore.open(location, logger: logger) } catch { throw .postgres(error) }
        }
    }
}
