import BrokerKit
import FakeForgejo
import Foundation
import Logging
import XCTest

/// "Who may connect" through real loopback HTTP: the sign-in policy at the Forgejo callback,
/// the redirect and client id host allowlists at registration and authorization, native apps'
/// private-use redirects, and a static client's whole flow.
final class AccessPolicyFlowTests: XCTestCase {
    var broker: OAuthTestBroker?
    var browser: ScriptedBrowser!

    override func setUp() async throws {
        browser = ScriptedBrowser()
    }

    override func tearDown() async throws {
        try? await browser.shutdown()
        await broker?.stop()
    }

    func start(_ environment: [String: String]) async throws -> OAuthTestBroker {
        let started = try await OAuthTestBroker.start(environment: environment)
        broker = started
        return started
    }

    // MARK: - Sign-in policy

    func testUserOutsideTheAllowedOrganisationSeesWhomToAskAndTheClientGetsAccessDenied() async throws {
        let broker = try await start(["FJMCP_ALLOWED_ORGS": "acme", "FJMCP_ACCESS_CONTACT": "ops@example.org"])
        try await broker.forgejo.state.createOrganization(name: "acme")
        let client = try await broker.register()
        let page = try await refusedPage(broker, client: client)
        XCTAssertEqual(page.status, 403)
        XCTAssertTrue(page.body.contains("Your Forgejo account alice is not among"), page.body)
        XCTAssertTrue(page.body.contains("Ask ops@example.org for access."), page.body)
        let back = try XCTUnwrap(Self.link(in: page.body))
        XCTAssertTrue(back.hasPrefix(client.redirectURI + "?"), back)
        let query = FormEncoding.query(of: back)
        XCTAssertEqual(query["error"], "access_denied")
        XCTAssertEqual(query["state"], "client-state")
        XCTAssertEqual(query["iss"], broker.issuer)
        let stored = try await broker.store.user(id: 101)
        XCTAssertNil(stored, "a refused user is not stored")

        try await broker.forgejo.state.addMember(organization: "ACME", login: "alice")
        let tokens = try await broker.logInAndGetTokens(client: client, browser: browser)
        let status = try await broker.mcp(tokens.accessToken).status
        XCTAssertEqual(status, 200)
    }

    func testListedUserAndTeamMemberAreAdmittedOthersAreNot() async throws {
        let broker = try await start(["FJMCP_ALLOWED_USERS": "Bob", "FJMCP_ALLOWED_ORGS": "acme/ops"])
        try await broker.forgejo.state.createOrganization(name: "acme")
        try await broker.forgejo.state.addMember(organization: "acme", team: "readers", login: "alice")
        let client = try await broker.register()
        let refused = try await refusedPage(broker, client: client)
        XCTAssertEqual(refused.status, 403, "alice is in another team of acme")
        try await broker.forgejo.state.addMember(organization: "acme", team: "OPS", login: "alice")
        _ = try await broker.logInAndGetTokens(client: client, browser: browser)
        await broker.forgejo.state.setAutoApproveUser("bob")
        browser.clearCookies()
        _ = try await broker.logInAndGetTokens(client: client, browser: browser)
    }

    func testRefusalAtLoginRevokesWhatTheUserStillHolds() async throws {
        let broker = try await start(["FJMCP_ALLOWED_ORGS": "acme"])
        try await broker.forgejo.state.createOrganization(name: "acme")
        try await broker.forgejo.state.addMember(organization: "acme", login: "alice")
        let client = try await broker.register()
        let tokens = try await broker.logInAndGetTokens(client: client, browser: browser)
        try await broker.forgejo.state.removeMember(organization: "acme", login: "alice")
        let page = try await refusedPage(broker, client: try await broker.register(name: "Second"))
        XCTAssertEqual(page.status, 403)
        let status = try await broker.mcp(tokens.accessToken).status
        XCTAssertEqual(status, 401, "the earlier client's grant ended with the refusal")
        let left = try await broker.store.upstreamTokens(userID: 101)
        XCTAssertNil(left, "a refused user's Forgejo tokens are not kept")
    }

    /// A returning user's login retired their stored refresh token at Forgejo (each code
    /// exchange does): when the policy cannot be checked the new set must still be kept, or
    /// the user's other clients would be logged out at the next refresh.
    func testALoginWhosePolicyCheckCannotReachForgejoKeepsTheNewTokenSet() async throws {
        let broker = try await start(["FJMCP_ALLOWED_ORGS": "acme"])
        try await broker.forgejo.state.createOrganization(name: "acme")
        try await broker.forgejo.state.addMember(organization: "acme", login: "alice")
        let tokens = try await broker.logInAndGetTokens(client: try await broker.register(), browser: browser)
        let stored = try await broker.store.upstreamTokens(userID: 101)
        let before = try XCTUnwrap(stored)
        await broker.forgejo.state.injectFault(.hang(milliseconds: 0), target: .api)  // the login's GET /user answers
        await broker.forgejo.state.injectFault(.serverError, target: .api, count: 4)  // its membership lists do not
        let page = try await refusedPage(broker, client: try await broker.register(name: "Second"))
        XCTAssertEqual(page.status, 502, page.body)
        let kept = try await broker.store.upstreamTokens(userID: 101)
        let after = try XCTUnwrap(kept)
        XCTAssertGreaterThan(after.version, before.version, "the set Forgejo honours now was not kept")
        await broker.forgejo.state.clearFaults()
        let status = try await broker.mcp(tokens.accessToken).status
        XCTAssertEqual(status, 200, "the earlier client keeps working")
    }

    func testRefusedUserCannotSignInToTheAccountPageEither() async throws {
        let broker = try await start(["FJMCP_ALLOWED_USERS": "bob"])
        let (url, page) = try await followRedirects(from: broker.baseURL + "/account")
        XCTAssertTrue(url.contains("/oauth/callback"), url)
        XCTAssertEqual(page.status, 403)
        XCTAssertTrue(page.body.contains("Your Forgejo account alice is not among"), page.body)
        XCTAssertNil(Self.link(in: page.body), "no application to return to")
    }

    /// The trail writes to a store of its own, read back with a query.
    func testAnAccountPageSignInIsAuditedAsALoginWithoutAClient() async throws {
        let directory = NSTemporaryDirectory() + "account-audit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(path: directory + "/audit.sqlite")
        var trailOptions = AuditTrail.Options()
        trailOptions.flushInterval = .milliseconds(50)
        let trail = AuditTrail(settings: AuditSettings(), store: store, options: trailOptions, logger: Logger(label: "audit"))
        let writer = Task { try await trail.run() }
        defer { writer.cancel() }
        var options = AuthorizationServer.Options()
        options.audit = trail
        let started = try await OAuthTestBroker.start(options: options)
        broker = started

        let (url, page) = try await followRedirects(from: started.baseURL + "/account")
        XCTAssertEqual(page.status, 200, page.body)
        XCTAssertTrue(url.hasSuffix("/account"), url)
        func logins() async -> [AuditRecord] {
            ((try? await store.auditRecords(AuditQuery())) ?? []).filter { $0.event == .login }
        }
        _ = await eventually { await !logins().isEmpty }
        let recorded = await logins()
        let login = try XCTUnwrap(recorded.first, "no login record")
        XCTAssertEqual(login.user, "alice")
        XCTAssertEqual(login.outcome, "ok")
        XCTAssertEqual(login.detail, "account_page")
        XCTAssertNil(login.client, "no client signed in")
    }

    /// Drives the login until the broker answers with a page instead of a redirect.
    private func refusedPage(_ broker: OAuthTestBroker, client: OAuthTestClient) async throws -> ScriptedBrowser.Page {
        do {
            _ = try await broker.authorizationCode(client: client, browser: browser)
            XCTFail("the login went through")
            return ScriptedBrowser.Page(status: 0, headers: [:], body: "")
        } catch let unexpected as ScriptedBrowser.UnexpectedPage {
            XCTAssertTrue(unexpected.step.contains("/oauth/callback"), unexpected.step)
            return unexpected.page
        }
    }

    static func link(in html: String) -> String? {
        guard let start = html.range(of: "<a href=\""), let end = html[start.upperBound...].firstIndex(of: "\"") else { return nil }
        return ScriptedBrowser.unescape(String(html[start.upperBound..<end]))
    }

    // MARK: - Which clients

    func testRedirectHostsAreEnforcedAtRegistrationAndAuthorization() async throws {
        let broker = try await start(["FJMCP_ALLOWED_REDIRECT_HOSTS": "app.example,localhost,cursor:"])
        let refused = try await broker.postJSON("/oauth/register", ["redirect_uris": ["https://evil.example/cb"]])
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual(refused.error, "invalid_redirect_uri")
        XCTAssertEqual(refused.json["error_description"] as? String, "redirect URIs on evil.example are not allowed by this server")
        let scheme = try await broker.postJSON("/oauth/register", ["redirect_uris": ["com.example.app:/cb"]])
        XCTAssertEqual(scheme.error, "invalid_redirect_uri")
        let dangerous = try await broker.postJSON("/oauth/register", ["redirect_uris": ["javascript:alert(1)"]])
        XCTAssertEqual(dangerous.error, "invalid_redirect_uri")
        let native = try await broker.register(redirectURIs: ["cursor://anysphere.cursor-mcp/oauth/callback"])
        let consent = try await browser.get(broker.authorizeURL(client: native, pkce: .make()))
        XCTAssertEqual(consent.status, 200)
        XCTAssertTrue(consent.body.contains("cursor: (an application on your device)"), consent.body)
        let csp = consent.headers["content-security-policy"].first ?? ""
        XCTAssertTrue(csp.contains("form-action 'self' ") && csp.contains(" cursor:"), csp)
        let tokens = try await broker.logInAndGetTokens(client: native, browser: browser)
        let status = try await broker.mcp(tokens.accessToken).status
        XCTAssertEqual(status, 200)
        _ = try await broker.register(redirectURIs: ["http://127.0.0.1:9999/callback"])
    }

    func testClientRegisteredBeforeTheListIsStoppedAtAuthorize() async throws {
        let broker = try await start([:])
        let client = try await broker.register(redirectURIs: ["https://old.example/cb"])
        let record = try await broker.store.client(id: client.clientID)
        await broker.stop()
        let restricted = try await start(["FJMCP_ALLOWED_REDIRECT_HOSTS": "claude.ai"])
        // Same client row, new process with the list: the broker must refuse before any redirect.
        try await restricted.store.upsertClient(try XCTUnwrap(record))
        let page = try await browser.get(restricted.authorizeURL(client: client, pkce: .make()))
        XCTAssertEqual(page.status, 400)
        XCTAssertNil(page.location)
        XCTAssertTrue(page.body.contains("redirect_uri_not_allowed"), page.body)
    }

    func testMetadataDocumentHostOutsideTheListIsNeverFetched() async throws {
        let broker = try await start(["FJMCP_ALLOWED_CLIENT_ID_HOSTS": "claude.ai"])
        let host = try await DocumentHost.start()
        defer { Task { await host.stop() } }
        let clientID = host.url("/client.json")
        await host.serve("/client.json", body: #"{"client_id":"\#(clientID)","client_name":"Doc","redirect_uris":["http://127.0.0.1:7777/cb"]}"#)
        let client = OAuthTestClient(clientID: clientID, secret: nil, redirectURI: "http://127.0.0.1:7777/cb", authMethod: "none")
        let page = try await browser.get(broker.authorizeURL(client: client, pkce: .make()))
        XCTAssertEqual(page.status, 400)
        XCTAssertTrue(page.body.contains("client_id_host_not_allowed"), page.body)
        let stored = try await broker.store.client(id: clientID)
        XCTAssertNil(stored)
    }

    // MARK: - Static clients

    func testStaticClientFullFlowWithBasicAndPostAndWrongSecrets() async throws {
        let secret = "pasted-secret-0123456789"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("static-\(UUID().uuidString).json")
        try Data("""
            [{"client_id": "paste-me", "client_secret_sha256": "\(TokenHasher.hash(secret))", "name": "Pasted App",
              "redirect_uris": ["https://pasted.example/cb"]}]
            """.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        // The allowlist does not apply to the operator's own clients.
        let broker = try await start(["FJMCP_STATIC_CLIENTS_FILE": file.path, "FJMCP_ALLOWED_REDIRECT_HOSTS": "claude.ai"])
        let basic = OAuthTestClient(clientID: "paste-me", secret: secret, redirectURI: "https://pasted.example/cb", authMethod: "client_secret_basic")
        let consent = try await browser.get(broker.authorizeURL(client: basic, pkce: .make()))
        XCTAssertTrue(consent.body.contains("Pasted App") && consent.body.contains("set up by the administrator"), consent.body)
        let tokens = try await broker.logInAndGetTokens(client: basic, browser: browser)
        let status = try await broker.mcp(tokens.accessToken).status
        XCTAssertEqual(status, 200)

        let post = OAuthTestClient(clientID: "paste-me", secret: secret, redirectURI: basic.redirectURI, authMethod: "client_secret_post")
        let refreshed = try await broker.refresh(tokens.refreshToken, client: post)
        XCTAssertEqual(refreshed.status, 200, refreshed.body)

        let wrong = OAuthTestClient(clientID: "paste-me", secret: "guess", redirectURI: basic.redirectURI, authMethod: "client_secret_basic")
        let (code, pkce) = try await broker.authorizationCode(client: basic, browser: browser)
        let refused = try await broker.exchange(code: code, client: wrong, pkce: pkce)
        XCTAssertEqual(refused.status, 401)
        XCTAssertEqual(refused.error, "invalid_client")
        let publicAttempt = OAuthTestClient(clientID: "paste-me", secret: nil, redirectURI: basic.redirectURI, authMethod: "none")
        let missing = try await broker.exchange(code: code, client: publicAttempt, pkce: pkce)
        XCTAssertEqual(missing.error, "invalid_client")
        let registered = try await broker.store.client(id: "paste-me")
        XCTAssertNil(registered, "static clients never enter the store")
        let account = try await followRedirects(from: broker.baseURL + "/account")
        XCTAssertTrue(account.page.body.contains("Pasted App") && account.page.body.contains("pasted.example"), account.page.body)
    }

    /// GETs `url` and follows redirects (Forgejo's auto-approval, the callback) to the first page.
    private func followRedirects(from start: String) async throws -> (url: String, page: ScriptedBrowser.Page) {
        var url = start
        var page = try await browser.get(url)
        for _ in 0..<6 {
            guard (300..<400).contains(page.status), let location = page.location else { break }
            url = location.hasPrefix("/") ? OAuthTestBroker.origin(of: url) + location : location
            page = try await browser.get(url)
        }
        return (url, page)
    }
}
