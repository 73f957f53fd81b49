@testable import BrokerKit
import Foundation
import Logging
import Synchronization
import XCTest

/// The change feed between broker processes: the payload's wire form and its bad inputs (no
/// server needed), and on PostgreSQL two feeds on one database (two processes), a process
/// skipping its own notifications, and the listener reconnecting and re-synchronizing after its
/// connection is killed.
final class PostgresChangeFeedTests: XCTestCase {
    func testPayloadRoundTripsAndCarriesNoMoreThanIds() throws {
        let changes: [StoreChange] = [.grantRevoked(userID: 42, clientID: "https://client.example/meta.json"), .userRevoked(userID: 7),
                                      .upstreamTokensChanged(userID: 3, version: 9)]
        for change in changes {
            let payload = change.payload(origin: "process-a")
            let decoded = try StoreChange.decode(payload)
            XCTAssertEqual(decoded.origin, "process-a")
            XCTAssertEqual(decoded.change, change)
        }
        let object = try JSONSerialization.jsonObject(with: Data(StoreChange.userRevoked(userID: 7).payload(origin: "o").utf8)) as? [String: Any]
        XCTAssertEqual(object.map { Set($0.keys) }, ["origin", "kind", "user"])
    }

    func testBadPayloadsAreRefused() {
        let cases: [(String, StoreChange.PayloadError)] = [
            ("", .malformed),
            ("not json", .malformed),
            (#"["user_revoked"]"#, .malformed),
            (#"{"origin":"o","kind":"user_revoked"}"#, .malformed),
            (#"{"origin":"o","kind":"user_revoked","user":"7"}"#, .malformed),
            (#"{"origin":"o","kind":"grant_revoked","user":7}"#, .malformed),
            (#"{"origin":"o","kind":"upstream_tokens_changed","user":7}"#, .malformed),
            (#"{"kind":"user_revoked","user":7}"#, .malformed),
            (#"{"origin":"o","kind":"tokens_swapped","user":7}"#, .unknownKind("tokens_swapped")),
        ]
        for (payload, expected) in cases {
            XCTAssertThrowsError(try StoreChange.decode(payload), payload) { XCTAssertEqual($0 as? StoreChange.PayloadError, expected, payload) }
        }
    }

    // MARK: On PostgreSQL

    private var database: PostgresTestDatabase?
    private var stores: [PostgresStore] = []
    private var listeners: [Task<Void, Never>] = []

    override func tearDown() async throws {
        for listener in listeners { listener.cancel(); await listener.value }
        for store in stores { await store.shutdown() }
        try await database?.drop()
    }

    /// A feed of its own process (origin) on its own pool, as a second broker would have.
    private func feed(_ origin: String, liveness: (every: Duration, timeout: Duration) = (.seconds(30), .seconds(5))) async throws -> PostgresChangeFeed {
        let database: PostgresTestDatabase
        if let existing = self.database {
            database = existing
        } else {
            database = try await PostgresTestDatabase.create()
            self.database = database
        }
        let store = try await PostgresStore.open(database.location, logger: Logger(label: "test"))
        stores.append(store)
        return PostgresChangeFeed(store: store, logger: Logger(label: "test"), origin: origin,
                                  backoff: (.milliseconds(10), .milliseconds(100)), liveness: liveness)
    }

    private func listen(_ feed: PostgresChangeFeed) -> RecordingConsumer {
        let consumer = RecordingConsumer()
        listeners.append(Task { await feed.listen(delivering: consumer) })
        return consumer
    }

    func testAnotherProcessesChangesArriveAndOwnAndUnknownOnesAreSkipped() async throws {
        let a = try await feed("a")
        let b = try await feed("b")
        XCTAssertThrowsError(try b.checkListening(), "not ready before the first LISTEN") {
            XCTAssertEqual("\($0)", "not listening for other brokers' changes")
        }
        let received = listen(b)
        await received.next(.resynchronized)
        XCTAssertNoThrow(try b.checkListening())

        // b's own change first: notifications of committed transactions arrive in commit order,
        // so had it not been skipped it would be the first delivered.
        await b.publish(.userRevoked(userID: 1))
        // Something else notifying on the channel (or another version's broker): skipped.
        try await stores[0].rows("SELECT pg_notify(\(PostgresChangeFeed.channel), 'not a change')")
        try await stores[0].rows("SELECT pg_notify(\(PostgresChangeFeed.channel), \(#"{"origin":"c","kind":"tokens_swapped","user":5}"#))")
        await a.publish(.grantRevoked(userID: 2, clientID: "c"))
        await a.publish(.userRevoked(userID: 3))
        await received.next(.applied(.grantRevoked(userID: 2, clientID: "c")))
        await received.next(.applied(.userRevoked(userID: 3)))
    }

    func testAKilledListenerConnectionReconnectsAndResynchronizes() async throws {
        let a = try await feed("a")
        let b = try await feed("b")
        let received = listen(b)
        await received.next(.resynchronized)

        let pid = try await listeningBackend()
        try await stores[0].rows("SELECT pg_terminate_backend(\(pid))")
        try await assertListeningAgain(b, received: received, from: a, userID: 4)
    }

    /// A listening connection whose server side stops answering without closing (its backend
    /// stopped with SIGSTOP: what a half-open TCP connection looks like) is given up after the
    /// liveness timeout and replaced; changes arrive again on the new one.
    func testAListenerConnectionThatStopsAnsweringIsReplaced() async throws {
        let a = try await feed("a")
        let b = try await feed("b", liveness: (.milliseconds(200), .milliseconds(500)))
        let received = listen(b)
        await received.next(.resynchronized)
        let pid = try await listeningBackend()
        guard kill(pid, SIGSTOP) == 0 else { throw XCTSkip("cannot stop the server's backend (not allowed to signal it)") }
        defer {
            kill(pid, SIGCONT)
        }
        try await assertListeningAgain(b, received: received, from: a, userID: 5)
    }

    /// The server process serving the one listening connection on the test database.
    private func listeningBackend() async throws -> Int32 {
        let pids: [Int32] = try await stores[0].rows("""
            SELECT pid FROM pg_stat_activity
            WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()
            """).map { try $0["pid"].decode(Int32.self) }
        XCTAssertEqual(pids.count, 1, "one listening connection")
        return try XCTUnwrap(pids.first)
    }

    /// After its connection was lost: `listener` re-synchronizes on a new one, is ready, and
    /// receives the next change `publisher` sends.
    private func assertListeningAgain(_ listener: PostgresChangeFeed, received: RecordingConsumer,
                                      from publisher: PostgresChangeFeed, userID: Int64) async throws {
        await received.next(.resynchronized)
        XCTAssertNoThrow(try listener.checkListening())
        await publisher.publish(.userRevoked(userID: userID))
        await received.next(.applied(.userRevoked(userID: userID)))
    }

    /// `/readyz` follows the listener: not ready before it listens, ready while it does, not
    /// ready again once it stopped.
    func testReadinessFollowsTheListener() async throws {
        let b = try await feed("b")
        let readiness = ReadinessMonitor(checks: [b.readinessCheck], ttl: .zero)
        let before = await readiness.result(logger: Logger(label: "test"))
        XCTAssertEqual(before.checks, ["change_listener": "failing"])
        XCTAssertFalse(before.ready)
        let received = listen(b)
        await received.next(.resynchronized)
        let listening = await readiness.result(logger: Logger(label: "test"))
        XCTAssertEqual(listening.checks, ["change_listener": "ok"])
        XCTAssertTrue(listening.ready)
        listeners[0].cancel()
        await listeners[0].value
        let stopped = await readiness.result(logger: Logger(label: "test"))
        XCTAssertFalse(stopped.ready)
    }
}

/// What a feed delivered, in order, read one at a time: each `next` waits for the next event
/// (up to 10 s, then fails) rather than for a fixed time.
private final class RecordingConsumer: StoreChangeConsumer {
    enum Event: Equatable, Sendable {
        case applied(StoreChange)
        case resynchronized
    }

    private let events = Mutex<[Event]>([])
    private let read = Mutex(0)

    func apply(_ change: StoreChange) async { events.withLock { $0.append(.applied(change)) } }
    func resynchronize() async { events.withLock { $0.append(.resynchronized) } }

    func next(_ expected: Event, file: StaticString = #filePath, line: UInt = #line) async {
        let index = read.withLock { index in defer { index += 1 }; return index }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let event = events.withLock({ $0.count > index ? $0[index] : nil }) {
                XCTAssertEqual(event, expected, file: file, line: line)
                return
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        XCTFail("no event #\(index) (expected \(expected)) within 10 s; got \(events.withLock { $0 })", file: file, line: line)
    }
}
