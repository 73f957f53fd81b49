@testable import BrokerKit
import Foundation
import Logging
import XCTest

/// The store suite on PostgreSQL (a fresh database per test), plus what only a server has:
/// migrations racing between two brokers, connection errors that name the server but no secret.
final class PostgresStoreTests: StoreSuite {
    var database: PostgresTestDatabase?

    override func makeStore() async throws -> any StoreEngine {
        let database = try await PostgresTestDatabase.create()
        self.database = database
        return try await PostgresStore.open(database.location, logger: Logger(label: "test"))
    }

    override func tearDown() async throws {
        try await super.tearDown()
        try await database?.drop()
        database = nil
    }

    private var postgres: PostgresStore {
        get throws { try XCTUnwrap(store as? PostgresStore) }
    }

    private func location() throws -> PostgresLocation {
        try XCTUnwrap(database?.location)
    }

    func testMigrationsAreIdempotent() async throws {
        let first = try await postgres.appliedMigrations()
        XCTAssertEqual(first, Self.migrations)
        try await store.upsertUser(user(1))
        await store.shutdown()
        store = try await PostgresStore.open(try location(), logger: Logger(label: "test"))
        let again = try await postgres.appliedMigrations()
        XCTAssertEqual(again, first)
        let reloaded = try await store.user(id: 1)
        XCTAssertEqual(reloaded?.login, "alice")
    }

    /// Two brokers starting at once against a new database: the advisory lock makes one migrate
    /// and the other find everything applied, instead of both creating the tables.
    func testConcurrentOpensOfANewDatabaseBothSucceed() async throws {
        let fresh = try await PostgresTestDatabase.create()
        defer { Task { try? await fresh.drop() } }
        let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
            for _ in 0..<3 {
                group.addTask { try await PostgresStore.open(fresh.location, logger: Logger(label: "test")) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for opened in stores {
            let applied = try await opened.appliedMigrations()
            XCTAssertEqual(applied, Self.migrations)
            await opened.shutdown()
        }
        try await fresh.drop()
    }

    func testUnreachableServerIsAClearErrorWithoutThePassword() async throws {
        var location = try location()
        location.endpoint = .tcp(host: "127.0.0.1", port: 1)
        location.password = "hunter2-secret"
        do {
            _ = try await PostgresStore.open(location, logger: Logger(label: "test"))
            XCTFail("nothing listens on port 1")
        } catch {
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("cannot connect to the database postgres://\(location.user)@127.0.0.1:1/\(location.database)"), text)
            XCTAssertFalse(text.contains("hunter2"), text)
        }
    }

    func testUnknownDatabaseNamesTheServersReason() async throws {
        var location = try location()
        location.database = "fjmcp_no_such_database"
        do {
            _ = try await PostgresStore.open(location, logger: Logger(label: "test"))
            XCTFail("the database does not exist")
        } catch {
            XCTAssertTrue("\(error)".contains("does not exist"), "\(error)")
        }
    }

    func testPingFailsOnceTheServerGoesAway() async throws {
        try await store.ping()
        try await XCTUnwrap(database).drop()
        do {
            try await store.ping()
            XCTFail("the database was dropped")
        } catch {
            XCTAssertTrue("\(error)".contains("did not answer"), "\(error)")
        }
    }

    /// Two sign-ins of one user to one client at once end with one grant, not a constraint error.
    func testConcurrentGrantUpsertsConverge() async throws {
        try await store.upsertUser(user(1))
        let store: any StoreEngine = self.store
        let now = self.now
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<8 {
                group.addTask {
                    try await store.upsertGrant(userID: 1, clientID: "c1", scope: "", resource: "r", newID: "g\(index)", now: now).id
                }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        XCTAssertEqual(ids.count, 1)
    }
}

/// Replica claims from separate pools, as separate broker processes make them.
extension PostgresStoreTests {
    func testConcurrentClaimsThroughThreePoolsHaveExactlyOneWinnerPerKey() async throws {
        var pools: [PostgresStore] = []
        for _ in 0..<2 { pools.append(try await PostgresStore.open(try location(), logger: Logger(label: "test"))) }
        let raced: Result<Void, any Error>
        do { raced = .success(try await assertOneWinnerPerKey(claimingThrough: [store] + pools)) } catch { raced = .failure(error) }
        for pool in pools { await pool.shutdown() }
        try raced.get()
    }
}

/// Single-flight Forgejo refresh across broker processes on one database.
extension PostgresStoreTests {
    /// Order of events seen by the lock holders.
    private actor Timeline {
        var events: [String] = []
        func add(_ event: String) { events.append(event) }
    }

    func testUpstreamRefreshLockSerialisesOneUserAcrossStoresButNotOtherUsers() async throws {
        let second = try await PostgresStore.open(try location(), logger: Logger(label: "test"))
        let first: any StoreEngine = store
        let timeline = Timeline()
        let (firstHeld, firstHolds) = AsyncStream.makeStream(of: Void.self)
        let (released, release) = AsyncStream.makeStream(of: Void.self)
        async let holder: Void = first.withUpstreamRefreshLock(userID: 7) {
            await timeline.add("first in")
            firstHolds.yield()
            for await _ in released { break }
            await timeline.add("first out")
        }
        for await _ in firstHeld { break }
        // Another user is not held up by user 7's refresh.
        try await second.withUpstreamRefreshLock(userID: 8) { await timeline.add("other user") }
        async let waiter: Void = second.withUpstreamRefreshLock(userID: 7) { await timeline.add("second in") }
        // Time for a broken lock to let the second process in before the first lets go; a working
        // one passes whatever the timing.
        try await Task.sleep(for: .milliseconds(200))
        release.yield()
        try await holder
        try await waiter
        let events = await timeline.events
        XCTAssertEqual(events, ["first in", "other user", "first out", "second in"])
        await second.shutdown()
    }
}
