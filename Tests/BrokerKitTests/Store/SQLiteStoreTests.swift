import GRDB
@testable import BrokerKit
import Foundation
import XCTest

/// The store suite on SQLite, plus what only the embedded file has: permissions, pragmas, file errors.
final class SQLiteStoreTests: StoreSuite {
    var dir: TemporaryDirectory!

    override func makeStore() async throws -> any StoreEngine {
        dir = try TemporaryDirectory()
        return try SQLiteStore(path: dir.path + "/data/broker.sqlite")
    }

    override func tearDown() async throws {
        try await super.tearDown()
        dir = nil
    }

    private var sqlite: SQLiteStore {
        get throws { try XCTUnwrap(store as? SQLiteStore) }
    }

    func testCreatesPrivateFileAndDirectoryAndPragmas() throws {
        var info = stat()
        XCTAssertEqual(stat(dir.path + "/data/broker.sqlite", &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        XCTAssertEqual(stat(dir.path + "/data", &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o700)
        XCTAssertEqual(try sqlite.pragma("journal_mode"), "wal")
        XCTAssertEqual(try sqlite.pragma("foreign_keys"), "1")
        XCTAssertGreaterThanOrEqual(Int(try sqlite.pragma("busy_timeout") ?? "0") ?? 0, 5000)
    }

    func testMigrationsAreIdempotent() async throws {
        let first = try sqlite.appliedMigrations()
        XCTAssertEqual(first, Self.migrations)
        try await store.upsertUser(user(1))
        await store.shutdown()
        store = try SQLiteStore(path: dir.path + "/data/broker.sqlite")
        XCTAssertEqual(try sqlite.appliedMigrations(), first)
        let reloaded = try await store.user(id: 1)
        XCTAssertEqual(reloaded?.login, "alice")
    }

    /// v7 rebuilds `upstream_tokens` (SQLite cannot drop NOT NULL in place): a set stored under
    /// v6 must come through with its version, and the user's foreign key must still cascade.
    func testTombstoneMigrationKeepsStoredSets() async throws {
        let path = dir.path + "/v6.sqlite"
        let queue = try DatabaseQueue(path: path)
        try SQLiteMigrations.migrator.migrate(queue, upTo: "v6-audit")
        try await queue.write { db in
            try db.execute(sql: """
                INSERT INTO users (id, login, created_at, updated_at) VALUES (7, 'bob', 0, 0);
                INSERT INTO upstream_tokens (user_id, sealed, access_expires_at, version, updated_at) VALUES (7, 'sealed-v6', 5, 4, 0);
                """)
        }
        try queue.close()
        await store.shutdown()
        store = try SQLiteStore(path: path)
        let migrated = try await store.upstreamTokens(userID: 7)
        XCTAssertEqual(migrated?.sealed, "sealed-v6")
        XCTAssertEqual(migrated?.version, 4)
        XCTAssertEqual(try sqlite.appliedMigrations(), Self.migrations)
        let orphans = try await sqlite.pool.write { db in
            try db.execute(sql: "DELETE FROM users WHERE id = 7")
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM upstream_tokens") ?? -1
        }
        XCTAssertEqual(orphans, 0)
    }

    func testCorruptDatabaseIsAClearError() throws {
        let path = dir.path + "/corrupt.sqlite"
        try Data(repeating: 0x42, count: 4096).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try SQLiteStore(path: path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot open database \(path):"), "\(error)")
        }
    }

    func testUnusableDataDirectoryIsAClearError() throws {
        let file = dir.path + "/plainfile"
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data()))
        XCTAssertThrowsError(try SQLiteStore(path: file + "/broker.sqlite")) { error in
            XCTAssertEqual("\(error)", "cannot use data directory \(file): not a directory")
        }
    }

    func testLoginLookupIsCaseInsensitiveAndIndexed() async throws {
        try await store.upsertUser(user(1))
        let found = try await store.user(login: "ALICE")
        XCTAssertEqual(found?.id, 1)
        let plan = try await sqlite.pool.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT * FROM users WHERE login = ? COLLATE NOCASE ORDER BY updated_at DESC LIMIT 1",
                             arguments: ["alice"]).map { $0["detail"] as String? ?? "" }
        }
        XCTAssertTrue(plan.joined().contains("users_login_nocase"), "plan: \(plan)")
    }
}
