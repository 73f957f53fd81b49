@testable import BrokerKit
import Foundation
import XCTest

/// The consent page's Content-Security-Policy: `form-action` must allow every hop of the redirect
/// chain that follows the form post (Chromium checks each one) and nothing more.
final class ConsentPageCSPTests: XCTestCase {
    func testFormActionSourceIsTheRedirectURIsOrigin() {
        XCTAssertEqual(OAuthPages.formActionSource(for: "https://claude.ai/api/mcp/auth_callback"), "https://claude.ai")
        XCTAssertEqual(OAuthPages.formActionSource(for: "https://App.Example:8443/cb?x=1"), "https://app.example:8443")
        XCTAssertEqual(OAuthPages.formActionSource(for: "http://127.0.0.1:53117/callback"), "http://127.0.0.1:53117")
        XCTAssertEqual(OAuthPages.formActionSource(for: "http://localhost/cb"), "http://localhost")
    }

    func testPrivateUseSchemesAndIPv6LiteralsGetTheirSchemeOnly() {
        XCTAssertEqual(OAuthPages.formActionSource(for: "cursor://anysphere.cursor-mcp/oauth/callback"), "cursor:")
        XCTAssertEqual(OAuthPages.formActionSource(for: "com.example.App:/cb"), "com.example.app:")
        // CSP host sources have no IPv6 syntax: the scheme is the tightest source that matches.
        XCTAssertEqual(OAuthPages.formActionSource(for: "http://[::1]:8080/cb"), "http:")
    }

    func testURLsThatCannotBeASourceGiveNone() {
        XCTAssertNil(OAuthPages.formActionSource(for: "/relative/cb"))
        XCTAssertNil(OAuthPages.formActionSource(for: "https:///no-host"))
        XCTAssertNil(OAuthPages.formActionSource(for: "https://bad%3Bhost/cb"))
        XCTAssertNil(OAuthPages.formActionSource(for: "1scheme://x/cb"))
    }

    func testHeaderListsSelfOnceThenTheTargetsAndForbidsFraming() {
        let response = OAuthPages.response("<p>x</p>", formTargets: ["https://forgejo.example", "'self'", "cursor:"])
        XCTAssertEqual(response.headers[.contentSecurityPolicy],
                       "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https://forgejo.example cursor:; frame-ancestors 'none'; base-uri 'none'")
        XCTAssertEqual(OAuthPages.response("<p>x</p>").headers[.contentSecurityPolicy],
                       "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    }
}
