import Foundation
import GRDB

/// The embedded default ``BrokerStore``: one SQLite file in WAL mode (one writer, concurrent
/// readers), foreign keys on, a busy timeout so a second process waits instead of failing.
public final class SQLiteStore: BrokerStore {
    public enum OpenError: Error, CustomStringConvertible {
        case directory(path: String, reason: String)
        case database(path: String, reason: String)

        public var description: String {
            switch self {
            case .directory(let path, let reason): "cannot use data directory \(path): \(reason)"
            case .database(let path, let reason): "cannot open database \(path): \(reason)"
            }
        }
    }

    let pool: DatabasePool
    public let path: String

    /// Opens (creating if needed) the database, with the directory at 0700 and the file at 0600
    /// because it holds sealed Forgejo tokens and token hashes, then applies pending migrations.
    public init(path: String) throws(OpenError) {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        try Self.prepareDirectory(directory.isEmpty ? "." : directory)
        let existed = FileManager.default.fileExists(atPath: path)
        if !existed {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            guard fd >= 0 else { throw .database(path: path, reason: String(cString: strerror(errno))) }
            Glibc.close(fd)
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.foreignKeysEnabled = true
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try SQLiteMigrations.migrator.migrate(pool)
            try pool.read { db in _ = try Int.fetchOne(db, sql: "PRAGMA quick_check") }
        } catch {
            throw .database(path: path, reason: Self.describe(error))
        }
        for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
            chmod(path + suffix, 0o600)
        }
    }

    /// Applied migration identifiers, for tests and `check-config`.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try SQLiteMigrations.migrator.appliedMigrations(db) }
    }

    public func close() throws {
        try pool.close()
    }

    private static func prepareDirectory(_ directory: String) throws(OpenError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw .directory(path: directory, reason: "not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw .directory(path: directory, reason: (error as NSError).localizedDescription)
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return error.message ?? "SQLite error \(error.resultCode)"
        }
        return "\(error)"
    }
}

extension Date {
    var epochSeconds: Int64 { Int64(timeIntervalSince1970.rounded(.down)) }
    init(epochSeconds: Int64) { self.init(timeIntervalSince1970: TimeInterval(epochSeconds)) }
}

extension SQLiteStore {
    /// Reads a PRAGMA as text; lets tests and `check-config` confirm WAL, foreign keys and the busy timeout.
    public func pragma(_ name: String) throws -> String? {
        guard name.allSatisfy({ $0.isLetter || $0 == "_" }) else { return nil }
        return try pool.read { db in try String.fetchOne(db, sql: "PRAGMA \(name)") }
    }
}
