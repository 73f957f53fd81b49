import BrokerKit
import FakeForgejo
import Foundation
import XCTest

/// Logins of one user racing each other and the token manager's refreshes, against the fake
/// Forgejo (which retires every older refresh token at each exchange and refresh, like Forgejo):
/// the stored set is always the one Forgejo still honours, proven by refreshing it.
final class UpstreamTokenLoginOrderTests: UpstreamTokenTestCase {
    /// The earlier exchange's callback is slower and stores last: it must not replace the later set.
    func testTheLaterOfTwoLoginsIsKeptWhicheverStoresLast() async throws {
        let (_, earlier) = try await harness.exchange()
        await harness.advanceClocks(seconds: 10)
        let (_, later) = try await harness.exchange()

        let first = try await harness.storeLogin(later)
        let second = try await harness.storeLogin(earlier)
        XCTAssertEqual(first, .stored(version: 1))
        XCTAssertEqual(second, .superseded(version: 1))
        let stored = try await harness.storedSet()
        XCTAssertEqual(stored?.refreshToken, later.refreshToken)
        try await assertStoredSetRefreshes(generation: 2)
    }

    func testALaterLoginReplacesAnEarlierOne() async throws {
        let (_, earlier) = try await harness.exchange()
        await harness.advanceClocks(seconds: 10)
        let (_, later) = try await harness.exchange()

        let first = try await harness.storeLogin(earlier)
        let second = try await harness.storeLogin(later)
        XCTAssertEqual(first, .stored(version: 1))
        XCTAssertEqual(second, .stored(version: 2))
        try await assertStoredSetRefreshes(generation: 3)
    }

    /// A user's first two logins at once (no row yet): written one after the other, so the
    /// earlier exchange cannot insert over the later one.
    func testConcurrentFirstLoginsKeepTheLaterExchange() async throws {
        let (_, earlier) = try await harness.exchange()
        await harness.advanceClocks(seconds: 10)
        let (_, later) = try await harness.exchange()
        let writer = UpstreamLoginWriter(store: harness.store, box: harness.box)
        let (userID, now) = (userID, harness.clock.now())
        try await harness.store.upsertUser(UserRecord(id: userID, login: "alice", createdAt: now, updatedAt: now))

        async let storingEarlier = writer.store(earlier, userID: userID, now: now)
        async let storingLater = writer.store(later, userID: userID, now: now)
        _ = try await (storingEarlier, storingLater)
        let stored = try await harness.storedSet()
        XCTAssertEqual(stored?.refreshToken, later.refreshToken)
    }

    /// A refresh of the later login's set carries its lineage: the earlier login still loses.
    func testAnEarlierLoginDoesNotReplaceARefreshOfALaterOne() async throws {
        let (_, earlier) = try await harness.exchange()
        await harness.advanceClocks(seconds: 10)
        try await harness.login()
        await harness.advanceClocks(seconds: 10)
        let refreshed = try await harness.makeManager().refresh(userID: userID)
        XCTAssertEqual(refreshed.generation, 2)

        let outcome = try await harness.storeLogin(earlier)
        XCTAssertEqual(outcome, .superseded(version: 2))
        try await assertStoredSetRefreshes(generation: 3)
    }

    /// Forgejo answered the refresh, then a login exchanged and stored before the refresh's
    /// compare-and-swap: the swap loses and the refresh adopts the login's set.
    func testARefreshWhoseSwapMeetsALoginAdoptsTheLoginsSet() async throws {
        let forgejo = harness.server.state
        try await assertRefreshAdoptsARacingLogin { intercepting, login in
            intercepting.beforeNextTokenSwap {
                await forgejo.advanceClock(seconds: 1)
                try await login.store(try await login.exchange())
            }
        }
    }

    /// A login exchanged before the refresh reached Forgejo (which then calls the refresh token
    /// used) and stores while the refresh re-reads the store: adopted, nobody is logged out.
    func testARefreshInsideALoginsExchangeToStoreWindowAdoptsTheLoginsSet() async throws {
        try await assertRefreshAdoptsARacingLogin { intercepting, login in
            // Read 1 starts the refresh: the login exchanges now. Read 2 is the refresh's first
            // re-read after Forgejo's "already used" (it still sees the old set): the login stores.
            intercepting.afterNextTokenRead {
                let set = try await login.exchange()
                intercepting.afterNextTokenRead { try await login.store(set) }
            }
        }
    }

    /// A login of alice whose exchange and store a store hook runs, racing a refresh.
    private struct RacingLogin: Sendable {
        let pending: UpstreamTokenHarness.PendingLogin
        let writer: UpstreamLoginWriter
        let userID: Int64

        func exchange() async throws -> UpstreamTokenSet {
            pending.clock.advance(seconds: 1)
            return try await pending.exchange().1
        }

        func store(_ set: UpstreamTokenSet) async throws {
            _ = try await writer.store(set, userID: userID, now: pending.clock.now())
        }
    }

    /// Alice is logged in; `race` places a second login inside a refresh through the store's
    /// hooks. The refresh must answer with the login's set (version 2, no third version of its
    /// own), nobody is declared dead or loses a grant, and the stored set still refreshes.
    private func assertRefreshAdoptsARacingLogin(
        _ race: (UpstreamTokenInterceptingStore, RacingLogin) -> Void, file: StaticString = #filePath, line: UInt = #line
    ) async throws {
        try await harness.login()
        let intercepting = UpstreamTokenInterceptingStore(harness.store)
        let manager = harness.makeManager(store: intercepting)
        let log = await UpstreamTokenEventLog(manager)
        await harness.advanceClocks(seconds: 10)
        race(intercepting, RacingLogin(pending: try await harness.beginLogin(),
                                       writer: UpstreamLoginWriter(store: harness.store, box: harness.box), userID: userID))

        let token = try await manager.refresh(userID: userID)
        let stored = try await harness.storedSet()
        XCTAssertEqual(token.token, stored?.accessToken, file: file, line: line)
        XCTAssertEqual(token.generation, 2, "the login's version", file: file, line: line)
        let deaths = await log.deaths
        XCTAssertEqual(deaths, [], file: file, line: line)
        let grants = try await harness.store.activeGrants(userID: userID)
        XCTAssertFalse(grants.isEmpty, "no broker grant revoked", file: file, line: line)
        try await assertStoredSetRefreshes(generation: 3, file: file, line: line)
    }

    /// The stored refresh token is the one Forgejo honours: a fresh manager rotates it.
    private func assertStoredSetRefreshes(generation: Int64, file: StaticString = #filePath, line: UInt = #line) async throws {
        await harness.advanceClocks(seconds: 10)
        let token = try await harness.makeManager().refresh(userID: userID)
        XCTAssertEqual(token.generation, generation, file: file, line: line)
    }
}

/// Two logins answered at the same instant (a clock that does not move, as in tests): neither
/// is later, so the one stored last is kept, whatever rounding the sealed JSON applied.
final class UpstreamLoginWriterSameInstantTests: XCTestCase {
    func testAnEqualExchangeTimeIsNeverLater() async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteStore(path: directory.path + "/broker.sqlite")
        defer { try? store.close() }
        let box = SecretBox(masterKey: [UInt8](repeating: 3, count: 32), purpose: UpstreamTokenSet.purpose)
        let writer = UpstreamLoginWriter(store: store, box: box)
        for offset in 0..<50 {
            // Dates whose seconds since 1970 do not survive the reference-date round trip exactly.
            let instant = Date(timeIntervalSinceReferenceDate: 786_000_000.123_456_7 + Double(offset) * 0.000_123_4)
            let userID = Int64(offset + 1)
            try await store.upsertUser(UserRecord(id: userID, login: "u\(offset)", createdAt: instant, updatedAt: instant))
            for name in ["first", "second"] {
                let set = UpstreamTokenSet(accessToken: name, refreshToken: name, accessExpiresAt: nil, loginExchangedAt: instant)
                _ = try await writer.store(set, userID: userID, now: instant)
            }
            let record = try await store.upstreamTokens(userID: userID)
            let stored = try UpstreamTokenSet.open(try XCTUnwrap(record).sealed, with: box, userID: userID)
            XCTAssertEqual(stored.accessToken, "second", "instant \(instant.timeIntervalSinceReferenceDate)")
        }
    }
}

final class UpstreamRefreshPolicyLoginWindowTests: XCTestCase {
    /// A refresh told "already used" because a login's exchange retired its token keeps
    /// re-reading the store longer than the login can take to store its set (its user lookup is
    /// bounded by the upstream timeout), so the login's set is adopted rather than the user
    /// declared dead (`testARefreshInsideALoginsExchangeToStoreWindowAdoptsTheLoginsSet`).
    func testDefaultRechecksOutlastALoginsExchangeToStoreWindow() {
        let rechecks = UpstreamRefreshPolicy().reuseRecheckDelays.reduce(Duration.zero, +)
        XCTAssertGreaterThan(rechecks, AuthorizationServer.Options().upstreamTimeout)
    }
}
