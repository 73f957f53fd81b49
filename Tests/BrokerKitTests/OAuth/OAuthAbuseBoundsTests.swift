import Foundation
import XCTest

@testable import BrokerKit

/// The bounds of issue 15 that need no server: rate limiter, LRU, address keys, registration
/// size, settings.
final class OAuthAbuseBoundsTests: XCTestCase {
    func testRateLimiterRefillsAndSaysWhenToRetry() async {
        let limiter = RateLimiter(policy: .init(burst: 2, perSecond: 0.5))
        let start = ContinuousClock.now
        let first = await limiter.check("a", now: start)
        let second = await limiter.check("a", now: start)
        let third = await limiter.check("a", now: start)
        let otherKey = await limiter.check("b", now: start)
        let soon = await limiter.check("a", now: start + .seconds(1))
        let later = await limiter.check("a", now: start + .seconds(2))
        XCTAssertEqual([first, second, otherKey, later], [.allowed, .allowed, .allowed, .allowed])
        XCTAssertEqual(third, .limited(retryAfter: 2), "one token per 2 s")
        XCTAssertEqual(soon, .limited(retryAfter: 1))
        let off = RateLimiter(policy: nil)
        for _ in 0..<100 { _ = await off.check("a") }
        let stillAllowed = await off.check("a")
        XCTAssertEqual(stillAllowed, .allowed)
    }

    /// At capacity one bucket is forgotten per new key, least recently used first: an exhausted
    /// key stays exhausted however many other keys come by, as long as it keeps being used.
    func testRateLimiterForgetsOneBucketAtATime() async {
        let limiter = RateLimiter(policy: .init(burst: 1, perSecond: 0.001), maxKeys: 100)
        let now = ContinuousClock.now
        _ = await limiter.check("attacker", now: now)
        for index in 0..<10_000 {
            _ = await limiter.check("rotating-\(index)", now: now)
            if index % 50 == 0 {
                let decision = await limiter.check("attacker", now: now)
                XCTAssertNotEqual(decision, .allowed, "at \(index)")
            }
        }
        let keys = await limiter.keyCount
        XCTAssertEqual(keys, 100)
    }

    func testLRUCacheEvictsTheLeastRecentlyUsed() {
        var cache = LRUCache<String, Int>(capacity: 3)
        cache.set(1, forKey: "a")
        cache.set(2, forKey: "b")
        cache.set(3, forKey: "c")
        XCTAssertEqual(cache.value(forKey: "a"), 1)
        XCTAssertEqual(cache.set(4, forKey: "d"), "b")
        XCTAssertNil(cache.value(forKey: "b"))
        cache.removeValue(forKey: "c")
        XCTAssertNil(cache.set(5, forKey: "e"))
        XCTAssertEqual(cache.set(6, forKey: "f"), "a")
        XCTAssertEqual([cache.value(forKey: "d"), cache.value(forKey: "e"), cache.value(forKey: "f")], [4, 5, 6])
        XCTAssertEqual(cache.count, 3)
    }

    func testRateLimitKeysAreIPv4AddressesAndIPv6Slash64s() {
        XCTAssertEqual(ClientAddress.rateLimitKey("192.0.2.7"), "192.0.2.7")
        XCTAssertEqual(ClientAddress.rateLimitKey("::ffff:192.0.2.7"), "192.0.2.7")
        XCTAssertEqual(ClientAddress.rateLimitKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64")
        XCTAssertEqual(ClientAddress.rateLimitKey("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::/64")
        XCTAssertNotEqual(ClientAddress.rateLimitKey("2001:db8:1:3::1"), ClientAddress.rateLimitKey("2001:db8:1:2::1"))
        XCTAssertEqual(ClientAddress.rateLimitKey("-"), "-")
    }

    func testRateLimitSettings() throws {
        XCTAssertEqual(RateLimiter.Policy(configValue: "30/1m"), RateLimiter.Policy(burst: 30, perSecond: 0.5))
        XCTAssertNil(RateLimiter.Policy(configValue: "30"))
        XCTAssertNil(RateLimiter.Policy(configValue: "0/1m"))
        XCTAssertNil(RateLimiter.Policy(configValue: "5/0s"))
        var env = ["FJMCP_PUBLIC_URL": "https://mcp.example", "FORGEJO_URL": "https://forgejo.example", "FORGEJO_CLIENT_ID": "id",
                   "FORGEJO_CLIENT_SECRET": "secret", "FJMCP_RATE_LIMIT_AUTHORIZE": "off", "FJMCP_RATE_LIMIT_TOKEN": "100/10s",
                   "FJMCP_CIMD_PORTS": "443, 8443", "FJMCP_GRANTLESS_CLIENT_LIFETIME": "2h", "FJMCP_MAX_GRANTLESS_CLIENTS": "500"]
        let config = try BrokerConfig.load(from: ConfigSource(environment: env))
        XCTAssertNil(config.oauth.authorizeRate)
        XCTAssertEqual(config.oauth.tokenRate, RateLimiter.Policy(burst: 100, perSecond: 10))
        XCTAssertEqual(config.oauth.registerRate, RateLimiter.Policy(burst: 20, perSecond: 0.5))
        XCTAssertEqual(config.oauth.cimdPorts, [443, 8443])
        XCTAssertEqual(config.oauth.grantlessClientLifetime, .seconds(7_200))
        XCTAssertEqual(config.oauth.maxGrantlessClients, 500)
        XCTAssertEqual(config.oauth.maxPendingAuthorizations, 10_000)
        env.merge(["FJMCP_RATE_LIMIT_REGISTER": "lots", "FJMCP_CIMD_PORTS": "70000", "FJMCP_CIMD_FETCH_TIMEOUT": "0s",
                   "FJMCP_MAX_PENDING_AUTHORIZATIONS": "1"]) { _, new in new }
        XCTAssertThrowsError(try BrokerConfig.load(from: ConfigSource(environment: env))) { error in
            let problems = (error as? ConfigError)?.problems ?? []
            for name in ["FJMCP_RATE_LIMIT_REGISTER", "FJMCP_CIMD_PORTS", "FJMCP_CIMD_FETCH_TIMEOUT", "FJMCP_MAX_PENDING_AUTHORIZATIONS"] {
                XCTAssertTrue(problems.contains { $0.contains(name) }, "\(name): \(problems)")
            }
        }
    }

    private func registration(_ fields: [String: Any]) throws(OAuthError) -> ClientRegistration {
        let body = try! JSONSerialization.data(withJSONObject: fields)
        return try ClientRegistration.register(json: Array(body), now: Date())
    }

    private func assertRefused(_ fields: [String: Any], _ reason: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try registration(fields)
            XCTFail("accepted", file: file, line: line)
        } catch {
            XCTAssertEqual(error.kind, reason == "too_many_redirect_uris" ? .invalidRedirectURI : .invalidClientMetadata, file: file, line: line)
            XCTAssertEqual(error.reason, reason, file: file, line: line)
        }
    }

    func testRegistrationIsBounded() throws {
        let uri = { (index: Int, length: Int) in "https://app.example/" + String(repeating: "p", count: length) + "/\(index)" }
        // The largest registration that fits is kept whole, unknown fields dropped.
        let fits = try registration([
            "redirect_uris": (0..<10).map { uri($0, 150) }, "client_name": String(repeating: "n", count: 200),
            "client_uri": "https://app.example/" + String(repeating: "u", count: 400), "unknown_field": String(repeating: "x", count: 100_000),
            "grant_types": Array(repeating: "authorization_code", count: 1_000) + ["refresh_token"],
        ])
        XCTAssertLessThanOrEqual(fits.record.storedBytes, ClientRegistration.maxStoredBytes)
        XCTAssertFalse(fits.record.metadataJSON.contains("unknown_field"))
        XCTAssertTrue(fits.record.metadataJSON.contains(#""grant_types":["authorization_code","refresh_token"]"#), fits.record.metadataJSON)

        assertRefused(["redirect_uris": (0..<10).map { uri($0, 1_000) }], "registration_too_large")
        assertRefused(["redirect_uris": (0..<11).map { uri($0, 10) }], "too_many_redirect_uris")
        assertRefused(["redirect_uris": [uri(0, 10)], "client_name": String(repeating: "n", count: 201)], "field_too_long")
        assertRefused(["redirect_uris": [uri(0, 10)], "logo_uri": String(repeating: "l", count: 513)], "field_too_long")
        assertRefused(["redirect_uris": [uri(0, 10)], "software_id": 5], "field_not_string")
    }

    /// JSON's `\u0000` in any kept string is refused (PostgreSQL cannot store a NUL: a
    /// `client_name` holding one was a 500 there).
    func testRegistrationRefusesNULCharacters() {
        let uri = "https://app.example/callback"
        assertRefused(["redirect_uris": [uri], "client_name": "a\u{0}b"], "field_contains_nul")
        assertRefused(["redirect_uris": [uri], "client_uri": "https://app.example/\u{0}"], "field_contains_nul")
        assertRefused(["redirect_uris": [uri], "grant_types": ["authorization_code\u{0}"]], "field_contains_nul")
        XCTAssertThrowsError(try registration(["redirect_uris": [uri + "\u{0}"]])) {
            XCTAssertEqual(($0 as? OAuthError)?.kind, .invalidRedirectURI)
        }
    }
}
