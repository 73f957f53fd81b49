import BrokerKit
import Foundation
import XCTest

/// Decoding rules for Forgejo's answers that the fake does not produce on its own.
final class UpstreamResponseParsingTests: XCTestCase {
    func testTokenResponseRequiresAccessToken() {
        let decoder = JSONDecoder()
        XCTAssertThrowsError(try decoder.decode(UpstreamTokenResponse.self, from: Data(#"{"token_type":"bearer"}"#.utf8)))
        XCTAssertThrowsError(try decoder.decode(UpstreamTokenResponse.self, from: Data(#"{"access_token":""}"#.utf8)))
    }

    func testTokenResponseToleratesMissingFields() throws {
        let minimal = try JSONDecoder().decode(
            UpstreamTokenResponse.self, from: Data(#"{"access_token":"a.b.c","refresh_token":""}"#.utf8))
        XCTAssertEqual(minimal, UpstreamTokenResponse(accessToken: "a.b.c", refreshToken: nil, expiresIn: nil))
    }

    func testUserRequiresIDAndLogin() throws {
        XCTAssertThrowsError(try JSONDecoder().decode(ForgejoUser.self, from: Data(#"{"login":"x"}"#.utf8)))
        let user = try JSONDecoder().decode(ForgejoUser.self, from: Data(#"{"id":1,"login":"x"}"#.utf8))
        XCTAssertEqual(user.fullName, "")
        XCTAssertFalse(user.isAdmin)
    }

    func testReasonCodesAreStable() {
        XCTAssertEqual(UpstreamError.loginRequired(reason: .grantRevoked).reasonCode, "upstream_grant_revoked")
        XCTAssertEqual(UpstreamError.misconfigured(reason: .invalidClientSecret).reasonCode, "upstream_invalid_client_secret")
        XCTAssertEqual(UpstreamError.transient(reason: .timeout).reasonCode, "upstream_timeout")
        XCTAssertEqual(UpstreamError.transient(reason: .serverError(status: 502)).description, "upstream_server_error (HTTP 502)")
    }
}
