import BrokerKit
import FakeForgejo
import Foundation
import Hummingbird
import XCTest

/// End-to-end logins through real loopback HTTP: DCR public and confidential clients, a
/// metadata-document client, Forgejo's own login forms, isolation and a restart.
final class OAuthFlowTests: XCTestCase {
    var broker: OAuthTestBroker!
    var browser: ScriptedBrowser!

    override func setUp() async throws {
        broker = try await OAuthTestBroker.start()
        browser = ScriptedBrowser()
    }

    override func tearDown() async throws {
        try? await browser.shutdown()
        await broker.stop()
    }

    /// token → /mcp 200 → refresh → old access token still valid, new one valid → revoke → 401.
    private func exerciseTokens(_ tokens: TokenSet, login: String) async throws {
        let ok = try await broker.mcp(tokens.accessToken)
        XCTAssertEqual(ok.status, 200)
        XCTAssertEqual(ok.json["authenticated"] as? String, login)
        let refreshed = try await broker.refresh(tokens.refreshToken, client: tokens.client)
        XCTAssertEqual(refreshed.status, 200, refreshed.body)
        XCTAssertEqual(refreshed.headers["cache-control"].first, "no-store")
        let newAccess = try XCTUnwrap(refreshed.json["access_token"] as? String)
        XCTAssertNotEqual(newAccess, tokens.accessToken)
        let value1 = try await broker.mcp(newAccess, method: .GET).status
        XCTAssertEqual(value1, 200)
        let revoked = try await broker.postForm("/oauth/revoke", [("token", newAccess)], client: tokens.client)
        XCTAssertEqual(revoked.status, 200)
        let value2 = try await broker.mcp(newAccess).status
        XCTAssertEqual(value2, 401)
        let value3 = try await broker.mcp(tokens.accessToken, method: .DELETE).status
        XCTAssertEqual(value3, 401)
        let value4 = try await broker.refresh(try XCTUnwrap(refreshed.json["refresh_token"] as? String), client: tokens.client).error
        XCTAssertEqual(value4,
                       "invalid_grant")
    }

    func testPublicDCRClientFullFlow() async throws {
        let unauthenticated = try await broker.mcp(nil)
        XCTAssertEqual(unauthenticated.status, 401)
        XCTAssertEqual(unauthenticated.headers["www-authenticate"].first,
                       "Bearer resource_metadata=\"\(broker.issuer)/.well-known/oauth-protected-resource/mcp\"")
        let client = try await broker.register()
        XCTAssertNil(client.secret)
        let pkce = PKCEPair.make()
        let consent = try await browser.get(broker.authorizeURL(client: client, pkce: pkce))
        XCTAssertEqual(consent.status, 200)
        XCTAssertTrue(consent.body.contains("Test Client"))
        XCTAssertTrue(consent.body.contains("127.0.0.1:9999"))
        // Every hop after the form post: Forgejo, the callback ('self'), the client's redirect URI.
        XCTAssertTrue(try XCTUnwrap(consent.headers["content-security-policy"].first)
            .contains("form-action 'self' \(broker.forgejo.baseURL) http://127.0.0.1:9999; frame-ancestors 'none'"))
        let final = try await broker.drive(browser, from: broker.authorizeURL(client: client, pkce: pkce, state: "s-1"), until: client.redirectURI)
        let query = FormEncoding.query(of: final)
        XCTAssertEqual(query["state"], "s-1")
        XCTAssertEqual(query["iss"], broker.issuer)
        let answer = try await broker.exchange(code: try XCTUnwrap(query["code"]), client: client, pkce: pkce)
        XCTAssertEqual(answer.status, 200, answer.body)
        XCTAssertEqual(answer.json["token_type"] as? String, "Bearer")
        XCTAssertEqual(answer.json["scope"] as? String, "mcp")
        XCTAssertEqual(answer.json["expires_in"] as? Int, 3600)
        let tokens = TokenSet(accessToken: try XCTUnwrap(answer.json["access_token"] as? String),
                              refreshToken: try XCTUnwrap(answer.json["refresh_token"] as? String), client: client)
        try await exerciseTokens(tokens, login: "alice")
        let user = try await broker.store.user(login: "alice")
        let upstream = try await broker.store.upstreamTokens(userID: try XCTUnwrap(user).id)
        XCTAssertNotNil(upstream)
        XCTAssertFalse(try XCTUnwrap(upstream).sealed.contains("gto_"))
    }

    func testClientRegisteredWithoutRefreshGrantGetsNoRefreshToken() async throws {
        let registered = try await broker.postJSON("/oauth/register", [
            "redirect_uris": ["http://127.0.0.1:9999/callback"], "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"],
        ])
        XCTAssertEqual(registered.status, 201, registered.body)
        XCTAssertEqual(registered.json["grant_types"] as? [String], ["authorization_code"])
        let client = OAuthTestClient(clientID: try XCTUnwrap(registered.json["client_id"] as? String), secret: nil,
                                     redirectURI: "http://127.0.0.1:9999/callback", authMethod: "none")
        let pkce = PKCEPair.make()
        let final = try await broker.drive(browser, from: broker.authorizeURL(client: client, pkce: pkce), until: client.redirectURI)
        let answer = try await broker.exchange(code: try XCTUnwrap(FormEncoding.query(of: final)["code"]), client: client, pkce: pkce)
        XCTAssertEqual(answer.status, 200, answer.body)
        XCTAssertNotNil(answer.json["access_token"] as? String)
        XCTAssertNil(answer.json["refresh_token"], "the client did not register the refresh_token grant")
        let refused = try await broker.refresh("anything", client: client)
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual(refused.error, "unauthorized_client")

        let defaulted = try await broker.postJSON("/oauth/register", ["redirect_uris": ["http://127.0.0.1:9999/callback"]])
        XCTAssertEqual(defaulted.json["grant_types"] as? [String], ["authorization_code", "refresh_token"],
                       "an omitted list still lets MCP clients refresh, and the response says so")
    }

    func testConsentIsRememberedPerBrowserAndClient() async throws {
        let client = try await broker.register()
        _ = try await broker.logInAndGetTokens(client: client, browser: browser)
        let again = try await browser.get(broker.authorizeURL(client: client, pkce: .make()))
        XCTAssertEqual(again.status, 302)
        XCTAssertTrue(try XCTUnwrap(again.location).hasPrefix(broker.forgejo.baseURL + "/login/oauth/authorize"))
        let other = try await broker.register(name: "Other")
        let value5 = try await browser.get(broker.authorizeURL(client: other, pkce: .make())).status
        XCTAssertEqual(value5, 200)
    }

    func testConfidentialClientsWithBasicAndPost() async throws {
        for method in ["client_secret_basic", "client_secret_post"] {
            let client = try await broker.register(authMethod: method)
            XCTAssertNotNil(client.secret)
            let tokens = try await broker.logInAndGetTokens(client: client, browser: browser)
            try await exerciseTokens(tokens, login: "alice")
        }
    }

    func testMetadataDocumentClientFullFlow() async throws {
        let host = try await DocumentHost.start()
        defer { Task { await host.stop() } }
        let clientID = host.url("/client.json")
        await host.serve("/client.json", body: #"{"client_id":"\#(clientID)","client_name":"Doc Client","redirect_uris":["http://127.0.0.1:7777/cb"]}"#)
        let client = OAuthTestClient(clientID: clientID, secret: nil, redirectURI: "http://127.0.0.1:7777/cb", authMethod: "none")
        let consent = try await browser.get(broker.authorizeURL(client: client, pkce: .make()))
        XCTAssertTrue(consent.body.contains("Doc Client"), consent.body)
        XCTAssertTrue(consent.body.contains(clientID))
        let tokens = try await broker.logInAndGetTokens(client: client, browser: browser)
        try await exerciseTokens(tokens, login: "alice")
        let stored = try await broker.store.client(id: clientID)
        XCTAssertEqual(stored?.kind, .metadataDocument)
    }

    func testForgejoLoginAndConsentForms() async throws {
        await broker.forgejo.state.setAutoApproveUser(nil)
        let client = try await broker.register()
        let tokens = try await broker.logInAndGetTokens(client: client, browser: browser, login: ("bob", "bob-pw"))
        let value6 = try await broker.mcp(tokens.accessToken).json["authenticated"] as? String
        XCTAssertEqual(value6, "bob")
    }

    func testTwoUsersAndTwoClientsStayApart() async throws {
        let first = try await broker.register(name: "First")
        let second = try await broker.register(name: "Second")
        let alice = try await broker.logInAndGetTokens(client: first, browser: browser)
        await broker.forgejo.state.setAutoApproveUser("bob")
        let bobBrowser = ScriptedBrowser()
        defer { Task { try? await bobBrowser.shutdown() } }
        let bob = try await broker.logInAndGetTokens(client: second, browser: bobBrowser)
        let value7 = try await broker.mcp(alice.accessToken).json["authenticated"] as? String
        XCTAssertEqual(value7, "alice")
        let value8 = try await broker.mcp(bob.accessToken).json["authenticated"] as? String
        XCTAssertEqual(value8, "bob")
        // Another client cannot use or revoke a token it was not issued.
        let value9 = try await broker.refresh(alice.refreshToken, client: second).error
        XCTAssertEqual(value9, "invalid_grant")
        let value10 = try await broker.postForm("/oauth/revoke", [("token", alice.accessToken)], client: second).status
        XCTAssertEqual(value10, 200)
        let value11 = try await broker.mcp(alice.accessToken).status
        XCTAssertEqual(value11, 200)
        let value12 = try await broker.postForm("/oauth/revoke", [("token", bob.refreshToken)], client: second).status
        XCTAssertEqual(value12, 200)
        let value13 = try await broker.mcp(bob.accessToken).status
        XCTAssertEqual(value13, 401)
        let value14 = try await broker.mcp(alice.accessToken).status
        XCTAssertEqual(value14, 200)
    }

    func testRestartKeepsPendingRequestsAndTokens() async throws {
        let client = try await broker.register()
        let tokens = try await broker.logInAndGetTokens(client: client, browser: browser)
        let pkce = PKCEPair.make()
        let toForgejo = try await browser.get(broker.authorizeURL(client: client, pkce: pkce))
        XCTAssertEqual(toForgejo.status, 302)
        try broker.restart()
        let value15 = try await broker.mcp(tokens.accessToken).status
        XCTAssertEqual(value15, 200)
        let final = try await broker.drive(browser, from: try XCTUnwrap(toForgejo.location), until: client.redirectURI)
        let answer = try await broker.exchange(code: try XCTUnwrap(FormEncoding.query(of: final)["code"]), client: client, pkce: pkce)
        XCTAssertEqual(answer.status, 200, answer.body)
        let value16 = try await broker.refresh(tokens.refreshToken, client: client).status
        XCTAssertEqual(value16, 200)
    }
}
