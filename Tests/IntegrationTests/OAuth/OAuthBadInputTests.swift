import BrokerKit
import FakeForgejo
import Foundation
import Hummingbird
import XCTest

/// Every rejected input answers with its exact status and error code.
final class OAuthBadInputTests: XCTestCase {
    var broker: OAuthTestBroker!
    var browser: ScriptedBrowser!

    override func setUp() async throws {
        var options = AuthorizationServer.Options()
        options.upstreamTimeout = .milliseconds(500)
        broker = try await OAuthTestBroker.start(environment: ["FJMCP_REFRESH_GRACE": "60s"], options: options)
        browser = ScriptedBrowser()
    }

    override func tearDown() async throws {
        try? await browser.shutdown()
        await broker.stop()
    }

    private func authorizeQuery(_ fields: [(String, String)]) -> String {
        broker.baseURL + "/oauth/authorize?" + FormEncoding.encode(fields)
    }

    private func baseFields(_ client: OAuthTestClient, pkce: PKCEPair = .make()) -> [(String, String)] {
        [("response_type", "code"), ("client_id", client.clientID), ("redirect_uri", client.redirectURI),
         ("code_challenge", pkce.challenge), ("code_challenge_method", "S256"), ("state", "st")]
    }

    func testAuthorizeClientAndRedirectErrorsArePagesNeverRedirects() async throws {
        let client = try await broker.register(redirectURIs: ["https://app.example/cb", "http://127.0.0.1:9999/callback"])
        let fields = baseFields(client)
        let cases: [(String, [(String, String)])] = [
            ("client_id_missing", fields.filter { $0.0 != "client_id" }),
            ("duplicate_parameter", fields + [("client_id", client.clientID)]),
            ("unknown_client", fields.map { $0.0 == "client_id" ? ("client_id", "fjci_nope") : $0 }),
            ("redirect_uri_missing", fields.filter { $0.0 != "redirect_uri" }),
            ("duplicate_parameter", fields + [("redirect_uri", client.redirectURI)]),
            ("redirect_uri_mismatch", fields.map { $0.0 == "redirect_uri" ? ($0.0, "https://APP.example/cb") : $0 }),
            ("redirect_uri_mismatch", fields.map { $0.0 == "redirect_uri" ? ($0.0, "https://app.example/cb/") : $0 }),
            ("redirect_uri_mismatch", fields.map { $0.0 == "redirect_uri" ? ($0.0, "https://app.example/cb?x=1") : $0 }),
            ("redirect_uri_mismatch", fields.map { $0.0 == "redirect_uri" ? ($0.0, "https://app.example:8443/cb") : $0 }),
            ("parameter_too_long", fields.map { $0.0 == "client_id" ? ($0.0, String(repeating: "a", count: 3_000)) : $0 }),
        ]
        for (reason, query) in cases {
            let page = try await browser.get(authorizeQuery(query))
            XCTAssertEqual(page.status, 400, reason)
            XCTAssertNil(page.location, reason)
            XCTAssertTrue(page.body.contains(reason), "\(reason): \(page.body)")
        }
    }

    func testLoopbackIPRedirectMayChangeOnlyThePort() async throws {
        let client = try await broker.register(redirectURIs: ["http://127.0.0.1:9999/callback", "http://localhost:9999/cb"])
        var fields = baseFields(client).map { $0.0 == "redirect_uri" ? ($0.0, "http://127.0.0.1:5555/callback") : $0 }
        let value1 = try await browser.get(authorizeQuery(fields)).status
        XCTAssertEqual(value1, 200)
        fields = baseFields(client).map { $0.0 == "redirect_uri" ? ($0.0, "http://localhost:5555/cb") : $0 }
        let value2 = try await browser.get(authorizeQuery(fields)).status
        XCTAssertEqual(value2, 400)
    }

    func testAuthorizeErrorsAfterTrustGoBackAsRedirects() async throws {
        let client = try await broker.register()
        let fields = baseFields(client)
        let cases: [(String, String, [(String, String)])] = [
            ("invalid_request", "response_type_missing", fields.filter { $0.0 != "response_type" }),
            ("unsupported_response_type", "unsupported_response_type", fields.map { $0.0 == "response_type" ? ($0.0, "token") : $0 }),
            ("invalid_request", "code_challenge_missing", fields.filter { $0.0 != "code_challenge" }),
            ("invalid_request", "pkce_method_not_s256", fields.map { $0.0 == "code_challenge_method" ? ($0.0, "plain") : $0 }),
            ("invalid_request", "pkce_method_not_s256", fields.filter { $0.0 != "code_challenge_method" }),
            ("invalid_request", "code_challenge_malformed", fields.map { $0.0 == "code_challenge" ? ($0.0, "short") : $0 }),
            ("invalid_target", "resource_mismatch", fields + [("resource", "https://elsewhere.example/mcp")]),
            ("invalid_request", "duplicate_parameter", fields + [("scope", "mcp"), ("scope", "mcp")]),
            ("invalid_scope", "scope_malformed", fields + [("scope", "bad\"scope")]),
        ]
        for (error, reason, query) in cases {
            let page = try await browser.get(authorizeQuery(query))
            XCTAssertEqual(page.status, 302, reason)
            let location = try XCTUnwrap(page.location, reason)
            XCTAssertTrue(location.hasPrefix(client.redirectURI + "?"), reason)
            let answer = FormEncoding.query(of: location)
            XCTAssertEqual(answer["error"], error, reason)
            XCTAssertEqual(answer["iss"], broker.issuer, reason)
            XCTAssertEqual(answer["state"], "st", reason)
        }
    }

    func testConsentDenyAndForgedForms() async throws {
        let client = try await broker.register()
        let consent = try await browser.get(broker.authorizeURL(client: client, pkce: .make()))
        let hidden = ScriptedBrowser.hiddenFields(consent.body)
        let forged = try await browser.post(broker.baseURL + "/oauth/consent",
                                            form: hidden.map { $0.0 == "csrf" ? ($0.0, "forged") : $0 } + [("decision", "approve")])
        XCTAssertEqual(forged.status, 403)
        XCTAssertTrue(forged.body.contains("csrf_mismatch"))
        let otherBrowser = ScriptedBrowser()
        defer { Task { try? await otherBrowser.shutdown() } }
        let stolen = try await otherBrowser.post(broker.baseURL + "/oauth/consent", form: hidden + [("decision", "approve")])
        XCTAssertEqual(stolen.status, 403)
        XCTAssertTrue(stolen.body.contains("browser_mismatch"))
        let incomplete = try await browser.post(broker.baseURL + "/oauth/consent", form: hidden)
        XCTAssertEqual(incomplete.status, 400)
        let denied = try await browser.post(broker.baseURL + "/oauth/consent", form: hidden + [("decision", "deny")])
        XCTAssertEqual(denied.status, 303)
        XCTAssertEqual(FormEncoding.query(of: try XCTUnwrap(denied.location))["error"], "access_denied")
        let expired = try await browser.post(broker.baseURL + "/oauth/consent", form: hidden + [("decision", "approve")])
        XCTAssertEqual(expired.status, 400)
        XCTAssertTrue(expired.body.contains("request_expired"))
    }

    func testCallbackFailures() async throws {
        let client = try await broker.register()
        let noState = try await browser.get(broker.baseURL + "/oauth/callback?code=x")
        XCTAssertEqual(noState.status, 400)
        XCTAssertTrue(noState.body.contains("state_missing"))
        let unknown = try await browser.get(broker.baseURL + "/oauth/callback?code=x&state=fjst_unknown")
        XCTAssertTrue(unknown.body.contains("state_unknown"))

        // Forgejo answers with an error: back to the client as access_denied.
        var toForgejo = try await startUpstream(client)
        let state = try XCTUnwrap(FormEncoding.query(of: toForgejo)["state"])
        let denied = try await browser.get(broker.baseURL + "/oauth/callback?error=access_denied&state=\(state)")
        XCTAssertEqual(FormEncoding.query(of: try XCTUnwrap(denied.location))["error"], "access_denied")

        // Forgejo's token endpoint down, answering HTML, or slow: an error page with a reason.
        for (fault, reason) in [(FakeFault.serverError, "upstream_server_error"), (.htmlGarbage, "upstream_non_json_response")] {
            await broker.forgejo.state.injectFault(fault, target: .token)
            toForgejo = try await startUpstream(client)
            let back = try await browser.get(toForgejo)
            let page = try await browser.get(try XCTUnwrap(back.location))
            XCTAssertEqual(page.status, 502, reason)
            XCTAssertTrue(page.body.contains(reason), page.body)
            XCTAssertNil(page.location)
        }
        // A Forgejo that hangs past the upstream timeout: the same kind of page, promptly.
        await broker.forgejo.state.injectFault(.hang(milliseconds: 3_000), target: .token)
        toForgejo = try await startUpstream(client)
        let slowBack = try await browser.get(toForgejo)
        let started = ContinuousClock.now
        let slowPage = try await browser.get(try XCTUnwrap(slowBack.location))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(2), "the broker gives up at its upstream timeout")
        XCTAssertEqual(slowPage.status, 502)
        XCTAssertTrue(slowPage.body.contains("upstream_timeout"), slowPage.body)
        XCTAssertNil(slowPage.location)
        // Another browser cannot complete someone else's login.
        toForgejo = try await startUpstream(client)
        let back = try await browser.get(toForgejo)
        let otherBrowser = ScriptedBrowser()
        defer { Task { try? await otherBrowser.shutdown() } }
        let hijack = try await otherBrowser.get(try XCTUnwrap(back.location))
        XCTAssertEqual(hijack.status, 403)
        XCTAssertTrue(hijack.body.contains("browser_mismatch"))
    }

    /// Approves consent and returns the Forgejo authorize URL.
    private func startUpstream(_ client: OAuthTestClient) async throws -> String {
        let first = try await browser.get(broker.authorizeURL(client: client, pkce: .make()))
        if first.status == 302 { return try XCTUnwrap(first.location) }
        let approved = try await browser.post(broker.baseURL + "/oauth/consent",
                                              form: ScriptedBrowser.hiddenFields(first.body) + [("decision", "approve")])
        return try XCTUnwrap(approved.location)
    }

    func testCodeExchangeFailures() async throws {
        let client = try await broker.register()
        let other = try await broker.register(name: "Other")
        var (code, pkce) = try await broker.authorizationCode(client: client, browser: browser)
        let wrongVerifier = try await broker.exchange(code: code, client: client, pkce: .make())
        XCTAssertEqual(wrongVerifier.error, "invalid_grant")
        XCTAssertEqual(wrongVerifier.status, 400)
        (code, pkce) = try await broker.authorizationCode(client: client, browser: browser)
        let missing = try await broker.postForm("/oauth/token", [("grant_type", "authorization_code"), ("code", code)], client: client)
        XCTAssertEqual(missing.error, "invalid_request")
        let otherClient = try await broker.exchange(code: code, client: other, pkce: pkce)
        XCTAssertEqual(otherClient.error, "invalid_grant")

        (code, pkce) = try await broker.authorizationCode(client: client, browser: browser)
        let first = try await broker.exchange(code: code, client: client, pkce: pkce)
        XCTAssertEqual(first.status, 200)
        let replay = try await broker.exchange(code: code, client: client, pkce: pkce)
        XCTAssertEqual(replay.error, "invalid_grant")
        let revokedAccess = try await broker.mcp(try XCTUnwrap(first.json["access_token"] as? String))
        XCTAssertEqual(revokedAccess.status, 401, "a replayed code revokes its grant")

        (code, pkce) = try await broker.authorizationCode(client: client, browser: browser)
        broker.clock.advance(seconds: 61)
        let value3 = try await broker.exchange(code: code, client: client, pkce: pkce).error
        XCTAssertEqual(value3, "invalid_grant")

        (code, pkce) = try await broker.authorizationCode(client: client, browser: browser)
        let badTarget = try await broker.exchange(code: code, client: client, pkce: pkce,
                                                  extra: [("resource", "https://other.example/mcp")].filter { _ in true })
        XCTAssertTrue(["invalid_target", "invalid_request"].contains(badTarget.error ?? ""), badTarget.body)
        let verifierShort = try await broker.postForm("/oauth/token", [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", client.redirectURI), ("code_verifier", "short"),
        ], client: client)
        XCTAssertEqual(verifierShort.error, "invalid_request")
    }

    func testRefreshGraceAndFamilyRevocation() async throws {
        let client = try await broker.register()
        let tokens = try await broker.logInAndGetTokens(client: client, browser: browser)
        let first = try await broker.refresh(tokens.refreshToken, client: client)
        XCTAssertEqual(first.status, 200)
        let again = try await broker.refresh(tokens.refreshToken, client: client)
        XCTAssertEqual(again.body, first.body, "inside the grace window the same successor is returned")
        broker.clock.advance(seconds: 120)
        let late = try await broker.refresh(tokens.refreshToken, client: client)
        XCTAssertEqual(late.error, "invalid_grant")
        let successor = try XCTUnwrap(first.json["refresh_token"] as? String)
        let value4 = try await broker.refresh(successor, client: client).error
        XCTAssertEqual(value4, "invalid_grant", "the whole family is revoked")
        let value5 = try await broker.mcp(try XCTUnwrap(first.json["access_token"] as? String)).status
        XCTAssertEqual(value5, 401)

        let fresh = try await broker.logInAndGetTokens(client: client, browser: browser)
        broker.clock.advance(seconds: 31 * 24 * 3600)
        let value6 = try await broker.refresh(fresh.refreshToken, client: client).error
        XCTAssertEqual(value6, "invalid_grant")
        let value7 = try await broker.mcp(fresh.accessToken).status
        XCTAssertEqual(value7, 401, "expired access token")
    }

    func testTokenEndpointRequestErrors() async throws {
        let client = try await broker.register()
        let confidential = try await broker.register(authMethod: "client_secret_basic")
        let value8 = try await broker.postJSON("/oauth/token", ["grant_type": "refresh_token"]).error
        XCTAssertEqual(value8, "invalid_request")
        let value9 = try await broker.postForm("/oauth/token", [("grant_type", "refresh_token")]).error
        XCTAssertEqual(value9, "invalid_request")
        let value10 = try await broker.postForm("/oauth/token", [], client: client).error
        XCTAssertEqual(value10, "invalid_request")
        let value11 = try await broker.postForm("/oauth/token", [("grant_type", "password")], client: client).error
        XCTAssertEqual(value11, "unsupported_grant_type")
        let value12 = try await broker.postForm("/oauth/token", [("grant_type", "refresh_token"), ("grant_type", "refresh_token")],
                                                client: client).error
        XCTAssertEqual(value12, "invalid_request")
        let value13 = try await broker.refresh("fjrt_unknown", client: client).error
        XCTAssertEqual(value13, "invalid_grant")
        let unknown = try await broker.postForm("/oauth/token", [("grant_type", "refresh_token"), ("client_id", "fjci_nope")])
        XCTAssertEqual(unknown.status, 401)
        XCTAssertEqual(unknown.error, "invalid_client")
        let badSecret = OAuthTestClient(clientID: confidential.clientID, secret: "wrong", redirectURI: confidential.redirectURI,
                                        authMethod: "client_secret_basic")
        let basic = try await broker.refresh("fjrt_x", client: badSecret)
        XCTAssertEqual(basic.status, 401)
        XCTAssertEqual(basic.headers["www-authenticate"].first, "Basic realm=\"fjmcp-broker\"")
        let noSecret = OAuthTestClient(clientID: confidential.clientID, secret: nil, redirectURI: "", authMethod: "none")
        let value14 = try await broker.refresh("fjrt_x", client: noSecret).error
        XCTAssertEqual(value14, "invalid_client")
        let publicWithSecret = OAuthTestClient(clientID: client.clientID, secret: "s", redirectURI: "", authMethod: "client_secret_post")
        let value15 = try await broker.refresh("fjrt_x", client: publicWithSecret).error
        XCTAssertEqual(value15, "invalid_client")
        let malformedBasic = try await broker.postForm("/oauth/token", [("grant_type", "refresh_token")],
                                                       headers: [("Authorization", "Basic !!!")])
        XCTAssertEqual(malformedBasic.status, 401)
        let value16 = try await broker.postForm("/oauth/revoke", [], client: client).error
        XCTAssertEqual(value16, "invalid_request")
        let value17 = try await broker.postForm("/oauth/revoke", [("token", "fjat_unknown")], client: client).status
        XCTAssertEqual(value17, 200)
    }

    func testRegistrationErrors() async throws {
        let notJSON = try await broker.postForm("/oauth/register", [("redirect_uris", "https://a.example/cb")])
        XCTAssertEqual(notJSON.status, 415)
        let cases: [(Any, String)] = [
            ([String: Any](), "invalid_redirect_uri"),
            (["redirect_uris": "https://a.example/cb"], "invalid_redirect_uri"),
            (["redirect_uris": ["http://a.example/cb"]], "invalid_redirect_uri"),
            (["redirect_uris": ["https://a.example/cb#frag"]], "invalid_redirect_uri"),
            (["redirect_uris": ["/relative"]], "invalid_redirect_uri"),
            (["redirect_uris": Array(repeating: "https://a.example/cb", count: 11)], "invalid_redirect_uri"),
            (["redirect_uris": ["https://a.example/" + String(repeating: "x", count: 2_100)]], "invalid_redirect_uri"),
            (["redirect_uris": ["https://a.example/cb"], "client_name": String(repeating: "n", count: 201)], "invalid_client_metadata"),
            (["redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"], "invalid_client_metadata"),
            (["redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]], "invalid_client_metadata"),
            (["redirect_uris": ["https://a.example/cb"], "response_types": ["token"]], "invalid_client_metadata"),
            ([1, 2], "invalid_client_metadata"),
        ]
        for (body, error) in cases {
            let answer = try await broker.postJSON("/oauth/register", body)
            XCTAssertEqual(answer.status, 400, "\(body)")
            XCTAssertEqual(answer.error, error, "\(body)")
        }
        let loopback = try await broker.postJSON("/oauth/register", ["redirect_uris": ["http://localhost:3000/cb"], "token_endpoint_auth_method": "none"])
        XCTAssertEqual(loopback.status, 201)
    }

    func testBearerRejections() async throws {
        let client = try await broker.register()
        let tokens = try await broker.logInAndGetTokens(client: client, browser: browser)
        let query = try await broker.get("/mcp?access_token=\(tokens.accessToken)")
        XCTAssertEqual(query.status, 401)
        XCTAssertFalse(query.headers["www-authenticate"].first?.contains("invalid_token") ?? true)
        for header in ["Bearer fjat_nope", "Bearer garbage", "Bearer"] {
            let answer = try await broker.get("/mcp", headers: [("Authorization", header)])
            XCTAssertEqual(answer.status, 401, header)
            XCTAssertTrue(answer.headers["www-authenticate"].first?.contains("error=\"invalid_token\"") ?? false, header)
        }
        // Revocation through the store hook invalidates the cache at once.
        let value18 = try await broker.mcp(tokens.accessToken).status
        XCTAssertEqual(value18, 200)
        let found = try await broker.store.user(login: "alice")
        let user = try XCTUnwrap(found)
        try await broker.components.bearer.revokeUser(userID: user.id)
        let value19 = try await broker.mcp(tokens.accessToken).status
        XCTAssertEqual(value19, 401)
    }
}
