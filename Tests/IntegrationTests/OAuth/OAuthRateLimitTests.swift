import BrokerKit
import Foundation
import XCTest

/// Rate limits and pending-authorization bounds of the browser and client endpoints.
final class OAuthRateLimitTests: XCTestCase {
    /// `/oauth/authorize` from one network answers 429 with `Retry-After` after its burst, and
    /// a browser's pending requests stay bounded however often it starts a sign-in.
    func testAuthorizeIsLimitedPerNetworkAndPendingRequestsPerBrowser() async throws {
        let broker = try await OAuthTestBroker.start(environment: ["FJMCP_RATE_LIMIT_AUTHORIZE": "15/1h"])
        let client = try await broker.register(redirectURIs: ["http://127.0.0.1:7777/cb"])
        let browser = ScriptedBrowser()
        var statuses: [Int] = []
        var retryAfter: String?
        for _ in 0..<20 {
            let page = try await browser.get(broker.authorizeURL(client: client, pkce: .make()))
            statuses.append(page.status)
            if page.status == 429 { retryAfter = page.headers["Retry-After"].first }
        }
        XCTAssertEqual(statuses, Array(repeating: 200, count: 15) + Array(repeating: 429, count: 5))
        XCTAssertEqual(retryAfter, "240", "one token per 240 s")
        let pending = try await broker.store.pendingAuthorizationCount()
        XCTAssertEqual(pending, 10, "one browser keeps at most 10 sign-ins in progress")

        // The limit is per network: a request from another address (via the trusted loopback proxy) passes.
        let other = try await broker.get(broker.authorizeURL(client: client, pkce: .make()), headers: [("X-Forwarded-For", "2001:db8:5::1")])
        XCTAssertEqual(other.status, 200)
        // ... and a network is an IPv6 /64: fifteen addresses of it share one bucket of fifteen.
        for host in 2...15 {
            let sameSlash64 = try await broker.get(broker.authorizeURL(client: client, pkce: .make()),
                                                   headers: [("X-Forwarded-For", "2001:db8:5::\(host)")])
            XCTAssertEqual(sameSlash64.status, 200, "2001:db8:5::\(host)")
        }
        let sixteenth = try await broker.get(broker.authorizeURL(client: client, pkce: .make()),
                                             headers: [("X-Forwarded-For", "2001:db8:5::99")])
        XCTAssertEqual(sixteenth.status, 429, "another address of the same /64 got its own bucket")
        try await browser.shutdown()
        await broker.stop()
    }

    /// Token requests count per client id: one client over its rate does not throttle another
    /// client calling from the same address.
    func testTokenEndpointIsLimitedPerClient() async throws {
        let broker = try await OAuthTestBroker.start(environment: ["FJMCP_RATE_LIMIT_TOKEN": "3/1h"])
        let first = try await broker.register()
        let second = try await broker.register()
        var statuses: [Int] = []
        for _ in 0..<5 {
            statuses.append(try await broker.postForm("/oauth/token", [("grant_type", "refresh_token"), ("refresh_token", "nope")], client: first).status)
        }
        XCTAssertEqual(statuses, [400, 400, 400, 429, 429])
        let limited = try await broker.postForm("/oauth/token", [("grant_type", "refresh_token"), ("refresh_token", "nope")], client: first)
        XCTAssertEqual(limited.error, "rate_limited")
        XCTAssertEqual(limited.headers["Retry-After"].first, "1200")
        let other = try await broker.postForm("/oauth/token", [("grant_type", "refresh_token"), ("refresh_token", "nope")], client: second)
        XCTAssertEqual(other.status, 400, "another client is not throttled")
        let revoke = try await broker.postForm("/oauth/revoke", [("token", "nope")], client: first)
        XCTAssertEqual(revoke.status, 200, "revocation has its own bucket")
        await broker.stop()
    }
}
