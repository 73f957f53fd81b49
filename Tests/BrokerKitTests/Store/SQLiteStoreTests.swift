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
