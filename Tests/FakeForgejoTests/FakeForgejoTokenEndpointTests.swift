import FakeForgejo
import Foundation
import XCTest

/// The A5 success shape and every row of its error table, in both body encodings and both
/// client authentication styles.
final class FakeForgejoTokenEndpointTests: FakeForgejoTestCase {
    func testCodeExchangeSuccessShape() async throws {
        let response = try await exchange(try await code())
        XCTAssertEqual(response.status, 200)
        let json = response.json
        XCTAssertEqual(json["token_type"] as? String, "bearer")
        XCTAssertEqual(json["expires_in"] as? Int, 3600)
        XCTAssertNil(json["scope"])
        XCTAssertNil(json["id_token"], "no openid scope, no id_token")
        let access = try XCTUnwrap(json["access_token"] as? String)
        XCTAssertEqual(access.split(separator: ".").count, 3, "JWT-like dotted token")
        XCTAssertNotNil(json["refresh_token"] as? String)
    }

    func testJSONBodyAndBasicAuthAreAccepted() async throws {
        let basic = Data("\(broker.clientID):\(broker.clientSecret)".utf8).base64EncodedString()
        let response = try await postJSON(
            "/login/oauth/access_token",
            ["grant_type": "authorization_code", "code": try await code(), "code_verifier": Self.verifier],
            headers: [("Authorization", "Basic \(basic)")])
        XCTAssertEqual(response.status, 200, response.body)
        let refresh = try XCTUnwrap(response.json["refresh_token"] as? String)
        let refreshed = try await postForm(
            "/login/oauth/access_token", [("grant_type", "refresh_token"), ("refresh_token", refresh)],
            headers: [("Authorization", "basic \(basic)")])
        XCTAssertEqual(refreshed.status, 200, refreshed.body)
    }

    func testUnsupportedGrantType() async throws {
        for body in [[("grant_type", "client_credentials")], [("grant_type", "")]] {
            let response = try await postForm("/login/oauth/access_token", body)
            assertOAuthError(
                response, "unsupported_grant_type", "Only refresh_token or authorization_code grant type is supported")
        }
        let json = try await postJSON("/login/oauth/access_token", ["grant_type": "password"])
        assertOAuthError(
            json, "unsupported_grant_type", "Only refresh_token or authorization_code grant type is supported")
    }

    func testCodeGrantClientErrors() async throws {
        let code = try await code()
        func attempt(_ fields: [(String, String)], json: Bool) async throws -> TestResponse {
            let all = [("grant_type", "authorization_code"), ("code", code), ("code_verifier", Self.verifier)] + fields
            if json {
                return try await postJSON(
                    "/login/oauth/access_token", Dictionary(all, uniquingKeysWith: { first, _ in first }))
            }
            return try await postForm("/login/oauth/access_token", all)
        }
        for json in [false, true] {
            assertOAuthError(
                try await attempt([("client_id", "nope"), ("client_secret", "x")], json: json), "invalid_client",
                "cannot load client with client id: 'nope'")
            assertOAuthError(
                try await attempt([("client_id", broker.clientID), ("client_secret", "wrong")], json: json),
                "unauthorized_client", "invalid client secret")
            assertOAuthError(
                try await attempt([("client_id", broker.clientID)], json: json), "unauthorized_client",
                "invalid empty client secret")
            assertOAuthError(
                try await attempt(
                    [
                        ("client_id", broker.clientID), ("client_secret", broker.clientSecret),
                        ("redirect_uri", "https://evil.example/cb"),
                    ], json: json), "unauthorized_client", "unexpected redirect URI")
        }
        // None of the failures consumed the code.
        let success = try await exchange(code)
        XCTAssertEqual(success.status, 200)
        assertOAuthError(try await exchange(code), "unauthorized_client", "client is not authorized")
        assertOAuthError(try await exchange("gta_unknown"), "unauthorized_client", "client is not authorized")
    }

    func testCodeGrantPKCEAndForeignApp() async throws {
        let code = try await code()
        let wrongVerifier = try await postForm(
            "/login/oauth/access_token",
            [
                ("grant_type", "authorization_code"), ("client_id", broker.clientID),
                ("client_secret", broker.clientSecret), ("code", code), ("code_verifier", "wrong-verifier"),
            ])
        assertOAuthError(wrongVerifier, "unauthorized_client", "failed PKCE code challenge")
        let missingVerifier = try await postForm(
            "/login/oauth/access_token",
            [
                ("grant_type", "authorization_code"), ("client_id", broker.clientID),
                ("client_secret", broker.clientSecret), ("code", code),
            ])
        assertOAuthError(missingVerifier, "unauthorized_client", "failed PKCE code challenge")

        let other = try await state.registerApp(FakeAppSeed(name: "other", redirectURIs: [Self.brokerCallback]))
        assertOAuthError(try await exchange(code, app: other), "invalid_grant", "invalid grant")
        assertOAuthError(try await exchange(code), "unauthorized_client", "client is not authorized")
    }

    func testRefreshGrantClientErrors() async throws {
        let (_, refreshToken) = try await tokens()
        for json in [false, true] {
            func attempt(_ fields: [(String, String)]) async throws -> TestResponse {
                let all = [("grant_type", "refresh_token"), ("refresh_token", refreshToken)] + fields
                return json
                    ? try await postJSON("/login/oauth/access_token", Dictionary(all, uniquingKeysWith: { a, _ in a }))
                    : try await postForm("/login/oauth/access_token", all)
            }
            assertOAuthError(
                try await attempt([("client_id", "nope"), ("client_secret", "x")]), "invalid_client",
                "cannot load client with client id: \"nope\"")
            assertOAuthError(
                try await attempt([("client_id", broker.clientID), ("client_secret", "wrong")]), "invalid_client",
                "invalid client secret")
            assertOAuthError(
                try await attempt([("client_id", broker.clientID)]), "invalid_client", "invalid empty client secret")
        }
        assertOAuthError(try await refresh("not-a-jwt"), "unauthorized_client", "unable to parse refresh token")
        let (access, _) = try await tokens(for: "bob")
        assertOAuthError(try await refresh(access), "unauthorized_client", "unable to parse refresh token")
    }

    func testBasicHeaderRules() async throws {
        let code = try await code()
        func post(_ fields: [(String, String)], authorization: String) async throws -> TestResponse {
            try await postForm(
                "/login/oauth/access_token",
                [("grant_type", "authorization_code"), ("code", code), ("code_verifier", Self.verifier)] + fields,
                headers: [("Authorization", authorization)])
        }
        let good = Data("\(broker.clientID):\(broker.clientSecret)".utf8).base64EncodedString()
        assertOAuthError(
            try await post([], authorization: "Basic !!!notbase64"), "invalid_request", "cannot parse basic auth header")
        assertOAuthError(
            try await post([], authorization: "Basic \(Data("no-colon".utf8).base64EncodedString())"),
            "invalid_request", "cannot parse basic auth header")
        assertOAuthError(
            try await post([("client_id", "someone-else")], authorization: "Basic \(good)"), "invalid_request",
            "client_id in request body inconsistent with Authorization header")
        let wrongSecretHeader = Data("\(broker.clientID):other".utf8).base64EncodedString()
        assertOAuthError(
            try await post([("client_id", broker.clientID), ("client_secret", "")], authorization: "Basic \(wrongSecretHeader)"),
            "unauthorized_client", "invalid client secret")
        // A non-Basic scheme is ignored, so the request fails on the missing client instead.
        assertOAuthError(
            try await post([], authorization: "Bearer \(good)"), "invalid_client", "cannot load client with client id: ''")
        // Body complete: header not consulted at all.
        let ok = try await post(
            [("client_id", broker.clientID), ("client_secret", broker.clientSecret)], authorization: "Basic garbage")
        XCTAssertEqual(ok.status, 200, ok.body)
        let counters = await state.counters()
        XCTAssertEqual(counters.tokenRequests(grantType: "authorization_code", outcome: "invalid_request"), 3)
        XCTAssertEqual(counters.tokenRequests(grantType: "authorization_code", outcome: "ok"), 1)
    }

    func testInconsistentSecretInBodyAndHeader() async throws {
        let header = Data("\(broker.clientID):\(broker.clientSecret)".utf8).base64EncodedString()
        let response = try await postForm(
            "/login/oauth/access_token",
            [("grant_type", "refresh_token"), ("client_secret", "different")],
            headers: [("Authorization", "Basic \(header)")])
        assertOAuthError(
            response, "invalid_request", "client_secret in request body inconsistent with Authorization header")
    }

    func testPublicClientNeedsNoSecret() async throws {
        let code = try await code(app: publicApp, redirectURI: "http://127.0.0.1:5555/callback")
        let response = try await postForm(
            "/login/oauth/access_token",
            [
                ("grant_type", "authorization_code"), ("client_id", publicApp.clientID), ("code", code),
                ("code_verifier", Self.verifier),
            ])
        XCTAssertEqual(response.status, 200, response.body)
    }

    func testOpenIDScopeAddsIDToken() async throws {
        await state.setAutoApproveUser("alice")
        let authorize = try await send(
            .GET, authorizePath(clientID: broker.clientID, redirectURI: Self.brokerCallback, scope: "openid profile"))
        let code = try XCTUnwrap(authorize.locationQuery["code"])
        let response = try await exchange(code)
        XCTAssertNotNil(response.json["id_token"] as? String)
    }
}
