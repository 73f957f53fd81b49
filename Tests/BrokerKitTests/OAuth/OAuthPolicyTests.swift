@testable import BrokerKit
import Foundation
import XCTest

/// The pure validation rules of the authorization server.
final class OAuthPolicyTests: XCTestCase {
    func testRedirectURIRegistrationRules() {
        XCTAssertNil(RedirectURIPolicy.problem(with: "https://app.example/cb"))
        XCTAssertNil(RedirectURIPolicy.problem(with: "http://localhost:3000/cb"))
        XCTAssertNil(RedirectURIPolicy.problem(with: "http://127.0.0.1/cb"))
        XCTAssertNil(RedirectURIPolicy.problem(with: "http://[::1]:8080/cb"))
        XCTAssertNotNil(RedirectURIPolicy.problem(with: "http://app.example/cb"))
        XCTAssertNotNil(RedirectURIPolicy.problem(with: "https://app.example/cb#x"))
        XCTAssertNotNil(RedirectURIPolicy.problem(with: "https://user:pw@app.example/cb"))
        XCTAssertNotNil(RedirectURIPolicy.problem(with: "cb"))
        XCTAssertNotNil(RedirectURIPolicy.problem(with: "javascript:alert(1)"))
        XCTAssertNotNil(RedirectURIPolicy.problem(with: "https://app.example/c\u{0}b"))
        XCTAssertNotNil(RedirectURIPolicy.problem(with: "https://app.example/c b"))
        XCTAssertNotNil(RedirectURIPolicy.problem(with: "https://app.example/c\u{7F}b"))
        XCTAssertNotNil(RedirectURIPolicy.problem(with: "https://app.example/" + String(repeating: "a", count: 2_048)))
    }

    func testRedirectURIMatchingIsExactExceptLoopbackIPPorts() {
        let registered = ["https://app.example/cb", "http://127.0.0.1:9000/cb?x=1", "http://localhost:9000/cb"]
        XCTAssertTrue(RedirectURIPolicy.matches(requested: "https://app.example/cb", registered: registered))
        XCTAssertFalse(RedirectURIPolicy.matches(requested: "https://App.example/cb", registered: registered))
        XCTAssertFalse(RedirectURIPolicy.matches(requested: "https://app.example/cb/", registered: registered))
        XCTAssertFalse(RedirectURIPolicy.matches(requested: "https://app.example/cb?y=2", registered: registered))
        XCTAssertTrue(RedirectURIPolicy.matches(requested: "http://127.0.0.1:1234/cb?x=1", registered: registered))
        XCTAssertFalse(RedirectURIPolicy.matches(requested: "http://127.0.0.1:1234/cb", registered: registered))
        XCTAssertFalse(RedirectURIPolicy.matches(requested: "http://localhost:1234/cb", registered: registered))
    }

    func testResourceIndicatorTolerance() {
        let resource = "https://mcp.example.org/mcp"
        XCTAssertTrue(ResourceIndicator.matches("https://mcp.example.org/mcp", resource: resource))
        XCTAssertTrue(ResourceIndicator.matches("HTTPS://MCP.example.org/mcp/", resource: resource))
        XCTAssertTrue(ResourceIndicator.matches("https://mcp.example.org:443/mcp", resource: resource))
        XCTAssertFalse(ResourceIndicator.matches("https://mcp.example.org/", resource: resource))
        XCTAssertFalse(ResourceIndicator.matches("https://mcp.example.org/mcp#x", resource: resource))
        XCTAssertFalse(ResourceIndicator.matches("not a url", resource: resource))
    }

    func testScopeGrant() {
        XCTAssertEqual(OAuthScope.grant(requested: nil), "mcp")
        XCTAssertEqual(OAuthScope.grant(requested: "mcp offline_access openid"), "mcp")
        XCTAssertNil(OAuthScope.grant(requested: "bad\"scope"))
        XCTAssertNil(OAuthScope.grant(requested: "   "))
    }

    func testPKCEFormats() {
        let verifier = String(repeating: "a", count: 43)
        XCTAssertTrue(PKCE.isValidVerifier(verifier))
        XCTAssertFalse(PKCE.isValidVerifier(String(repeating: "a", count: 42)))
        XCTAssertFalse(PKCE.isValidVerifier(String(repeating: "a", count: 129)))
        XCTAssertFalse(PKCE.isValidVerifier(String(repeating: "a", count: 42) + "!"))
        XCTAssertTrue(PKCE.verify(verifier: verifier, challenge: TokenHasher.pkceChallenge(verifier: verifier)))
        XCTAssertTrue(PKCE.isValidChallenge(TokenHasher.pkceChallenge(verifier: verifier)))
        XCTAssertFalse(PKCE.isValidChallenge("short"))
    }

    func testParametersRejectDuplicatesAndTreatEmptyAsAbsent() throws {
        let parameters = OAuthParameters(encoded: "a=1&b=&c=x+y%21&d=1&d=2")
        XCTAssertEqual(try parameters.value("a"), "1")
        XCTAssertNil(try parameters.value("b"))
        XCTAssertEqual(try parameters.value("c"), "x y!")
        XCTAssertThrowsError(try parameters.value("d")) { XCTAssertEqual($0 as? OAuthParameters.Problem, .duplicated("d")) }
        XCTAssertThrowsError(try parameters.value("c", maxLength: 2)) { XCTAssertEqual($0 as? OAuthParameters.Problem, .tooLong("c")) }
        // A NUL is refused (PostgreSQL cannot store it: a `state` of `a%00b` was a 500 there).
        XCTAssertThrowsError(try OAuthParameters(encoded: "state=a%00b").value("state")) {
            XCTAssertEqual($0 as? OAuthParameters.Problem, .nulCharacter("state"))
        }
    }

    func testAddressPolicyBlocksPrivateAndReservedRanges() throws {
        for text in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
                     "::1", "fe80::1", "fd00::1", "::ffff:10.0.0.1", "224.0.0.1",
                     // Every IPv6 embedding of private/loopback IPv4 space (issue 15).
                     "::127.0.0.1", "::10.0.0.1", "::", "::ffff:0:10.0.0.1", "64:ff9b::10.0.0.1", "64:ff9b::127.0.0.1",
                     "64:ff9b:1::a00:1", "2002:a00:1::1", "2002:7f00:1::", "2001:0:4136:e378:8000:63bf:f5ff:fffe",
                     // ...and the deprecated or tunnel forms even around public IPv4.
                     "::8.8.8.8", "2002:808:808::1", "2001:0:808:808::1"] {
            XCTAssertFalse(AddressPolicy.isPublic(try XCTUnwrap(IPAddress(parsing: text))), text)
        }
        // NAT64 reaches the embedded address, so a public one is public (IPv6-only hosts with DNS64).
        for text in ["93.184.216.34", "2606:4700::1111", "1.1.1.1", "64:ff9b::8.8.8.8", "::ffff:8.8.8.8"] {
            XCTAssertTrue(AddressPolicy.isPublic(try XCTUnwrap(IPAddress(parsing: text))), text)
        }
    }

    func testMetadataDocumentCacheTTLIsClamped() {
        XCTAssertEqual(MetadataDocumentFetcher.cacheTTL(cacheControl: nil), 3_600)
        XCTAssertEqual(MetadataDocumentFetcher.cacheTTL(cacheControl: "max-age=10"), 300)
        XCTAssertEqual(MetadataDocumentFetcher.cacheTTL(cacheControl: "public, max-age=7200"), 7_200)
        XCTAssertEqual(MetadataDocumentFetcher.cacheTTL(cacheControl: "max-age=999999"), 86_400)
        XCTAssertEqual(MetadataDocumentFetcher.cacheTTL(cacheControl: "no-store"), 300)
    }

    func testConsentMemoryIsSignedAndBoundToClientAndRedirect() {
        let memory = ConsentMemory(masterKey: Array(repeating: 7, count: 32))
        let now = Date()
        let cookie = memory.approving(cookie: nil, clientID: "c1", redirectURI: "https://a/cb", now: now)
        XCTAssertTrue(memory.isApproved(cookie: cookie, clientID: "c1", redirectURI: "https://a/cb", now: now))
        XCTAssertFalse(memory.isApproved(cookie: cookie, clientID: "c2", redirectURI: "https://a/cb", now: now))
        XCTAssertFalse(memory.isApproved(cookie: cookie, clientID: "c1", redirectURI: "https://b/cb", now: now))
        XCTAssertFalse(memory.isApproved(cookie: cookie + "x", clientID: "c1", redirectURI: "https://a/cb", now: now))
        XCTAssertFalse(memory.isApproved(cookie: cookie, clientID: "c1", redirectURI: "https://a/cb",
                                         now: now.addingTimeInterval(ConsentMemory.approvalLifetime + 1)))
        let other = ConsentMemory(masterKey: Array(repeating: 8, count: 32))
        XCTAssertFalse(other.isApproved(cookie: cookie, clientID: "c1", redirectURI: "https://a/cb", now: now))
    }
}
