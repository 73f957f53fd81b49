@testable import BrokerKit
import Foundation
import XCTest

/// The invalidations another broker process's revocations arrive as: by user and client (a
/// grant revoked elsewhere) and everything (the change listener reconnected). A lookup that
/// started before either must not re-insert its stale principal.
final class AccessTokenCacheTests: XCTestCase {
    private let start = Date(timeIntervalSince1970: 1_000_000)

    private func principal(user: Int64, client: String) -> AuthenticatedPrincipal {
        AuthenticatedPrincipal(userID: user, login: "u\(user)", clientID: client, grantID: "g-\(user)-\(client)", scope: "mcp",
                               expiresAt: start + 3600)
    }

    private func filled() -> AccessTokenCache {
        let cache = AccessTokenCache(ttl: 30, capacity: 100)
        cache.insert(hash: "a", principal: principal(user: 1, client: "x"), lookupStarted: start, now: start)
        cache.insert(hash: "b", principal: principal(user: 1, client: "y"), lookupStarted: start, now: start)
        cache.insert(hash: "c", principal: principal(user: 2, client: "x"), lookupStarted: start, now: start)
        return cache
    }

    func testInvalidatingAUsersClientDropsOnlyThatClientsTokens() {
        let cache = filled()
        cache.invalidate(userID: 1, clientID: "x", now: start + 1)
        XCTAssertNil(cache.principal(hash: "a", now: start + 2))
        XCTAssertEqual(cache.principal(hash: "b", now: start + 2)?.clientID, "y")
        XCTAssertEqual(cache.principal(hash: "c", now: start + 2)?.userID, 2)
    }

    func testALookupStartedBeforeAClientRevocationIsNotCached() {
        let cache = filled()
        cache.invalidate(userID: 1, clientID: "x", now: start + 1)
        cache.insert(hash: "a", principal: principal(user: 1, client: "x"), lookupStarted: start + 0.5, now: start + 2)
        XCTAssertNil(cache.principal(hash: "a", now: start + 2))
        // A lookup after the revocation (a new grant of the same client) is cached again.
        cache.insert(hash: "a2", principal: principal(user: 1, client: "x"), lookupStarted: start + 3, now: start + 3)
        XCTAssertNotNil(cache.principal(hash: "a2", now: start + 3))
    }

    func testRemoveAllDropsEverythingAndRefusesLookupsStartedBefore() {
        let cache = filled()
        cache.removeAll(now: start + 1)
        for hash in ["a", "b", "c"] { XCTAssertNil(cache.principal(hash: hash, now: start + 2), hash) }
        cache.insert(hash: "a", principal: principal(user: 1, client: "x"), lookupStarted: start + 0.5, now: start + 2)
        XCTAssertNil(cache.principal(hash: "a", now: start + 2))
        cache.insert(hash: "a", principal: principal(user: 1, client: "x"), lookupStarted: start + 2, now: start + 2)
        XCTAssertNotNil(cache.principal(hash: "a", now: start + 2))
    }
}
