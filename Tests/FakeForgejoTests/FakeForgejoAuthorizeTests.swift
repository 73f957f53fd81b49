import FakeForgejo
import Foundation
import XCTest

/// Authorize check order and redirects (A2), redirect URI matching (A3), and the browser flow.
final class FakeForgejoAuthorizeTests: FakeForgejoTestCase {
    /// A scripted browser: keeps cookies, reads hidden form fields.
    struct Browser {
        var cookies: [String: String] = [:]

        var cookieHeader: [(String, String)] {
            cookies.isEmpty ? [] : [("Cookie", cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; "))]
        }

        mutating func absorb(_ response: TestResponse) {
            for header in response.headers["Set-Cookie"] {
                let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard pair.count == 2 else { continue }
                let name = String(pair[0]).trimmingCharacters(in: .whitespaces)
                if header.lowercased().contains("max-age=0") { cookies[name] = nil } else { cookies[name] = String(pair[1]) }
            }
        }

        static func hiddenFields(_ html: String) -> [(String, String)] {
            let pattern = #"<input type="hidden" name="([^"]+)" value="([^"]*)">"#
            let regex = try? NSRegularExpression(pattern: pattern)
            let range = NSRange(html.startIndex..., in: html)
            return (regex?.matches(in: html, range: range) ?? []).compactMap { match in
                guard let name = Range(match.range(at: 1), in: html), let value = Range(match.range(at: 2), in: html)
                else { return nil }
                return (String(html[name]), String(html[value]).replacingOccurrences(of: "&amp;", with: "&"))
            }
        }
    }

    func testUnauthenticatedGoesToLoginWithRedirectCookie() async throws {
        let response = try await send(.GET, authorizePath(clientID: "unknown", redirectURI: "x"))
        XCTAssertEqual(response.status, 303)
        XCTAssertEqual(response.location, "/user/login")
        XCTAssertTrue(response.headers["Set-Cookie"].contains { $0.hasPrefix("redirect_to=") })
    }

    func testCheckOrderUnknownClientThenRedirect() async throws {
        await state.setAutoApproveUser("alice")
        let unknown = try await send(.GET, authorizePath(clientID: "unknown", redirectURI: "https://evil.example"))
        XCTAssertEqual(unknown.status, 400)
        XCTAssertTrue(unknown.body.contains("Client ID not registered"))
        let missing = try await send(.GET, "/login/oauth/authorize?response_type=code")
        XCTAssertTrue(missing.body.contains("Client ID not registered"))
        let badRedirect = try await send(
            .GET, authorizePath(clientID: broker.clientID, redirectURI: "https://evil.example", responseType: "token"))
        XCTAssertEqual(badRedirect.status, 400)
        XCTAssertTrue(badRedirect.body.contains("Unregistered Redirect URI"))
        let noRedirect = try await send(.GET, "/login/oauth/authorize?client_id=\(broker.clientID)&response_type=code")
        XCTAssertTrue(noRedirect.body.contains("Unregistered Redirect URI"))
    }

    func testErrorRedirects() async throws {
        await state.setAutoApproveUser("alice")
        let responseType = try await send(
            .GET, authorizePath(clientID: broker.clientID, redirectURI: Self.brokerCallback, state: "", responseType: "token"))
        XCTAssertEqual(responseType.status, 303)
        XCTAssertEqual(
            responseType.location,
            "\(Self.brokerCallback)?error=unsupported_response_type&error_description=Only+code+response+type+is+supported.&state="
        )
        let method = try await send(
            .GET, authorizePath(clientID: broker.clientID, redirectURI: Self.brokerCallback, method: "S512"))
        XCTAssertEqual(method.locationQuery["error"], "invalid_request")
        XCTAssertEqual(method.locationQuery["error_description"], "unsupported code challenge method")
        XCTAssertEqual(method.locationQuery["state"], "st")
        let publicNoPKCE = try await send(
            .GET, authorizePath(clientID: publicApp.clientID, redirectURI: Self.publicCallback, method: ""))
        XCTAssertEqual(publicNoPKCE.locationQuery["error_description"], "PKCE is required for public clients")
        // Confidential clients may omit PKCE.
        let confidentialNoPKCE = try await send(
            .GET, authorizePath(clientID: broker.clientID, redirectURI: Self.brokerCallback, method: "", challenge: ""))
        XCTAssertNotNil(confidentialNoPKCE.locationQuery["code"])
    }

    func testRedirectMatchingRules() async throws {
        await state.setAutoApproveUser("alice")
        func accepted(_ app: FakeAppCredentials, _ uri: String) async throws -> Bool {
            try await send(.GET, authorizePath(clientID: app.clientID, redirectURI: uri)).status == 303
        }
        let upper = try await accepted(broker, "HTTPS://BROKER.example/oauth/callback/")
        XCTAssertTrue(upper, "case and one trailing slash are forgiven")
        let prefix = try await accepted(broker, Self.brokerCallback + "/extra")
        XCTAssertFalse(prefix)
        let query = try await accepted(broker, Self.brokerCallback + "?x=1")
        XCTAssertFalse(query, "query is part of the comparison")
        let loopbackPort = try await accepted(publicApp, "http://127.0.0.1:49152/callback")
        XCTAssertTrue(loopbackPort, "public client: loopback port ignored")
        let localhostName = try await accepted(publicApp, "http://localhost:49152/callback")
        XCTAssertFalse(localhostName, "only IP literals get leniency")
        let loopbackConfidential = try await state.registerApp(
            FakeAppSeed(name: "conf-loopback", redirectURIs: ["http://127.0.0.1/callback"]))
        let confidentialPort = try await accepted(loopbackConfidential, "http://127.0.0.1:49152/callback")
        XCTAssertFalse(confidentialPort, "confidential client: no port leniency")
    }

    func testCodeRedirectKeepsExistingQuery() async throws {
        let app = try await state.registerApp(
            FakeAppSeed(name: "q", redirectURIs: ["https://c.example/cb?tenant=a b"]))
        await state.setAutoApproveUser("alice")
        let response = try await send(
            .GET, authorizePath(clientID: app.clientID, redirectURI: "https://c.example/cb?tenant=a b", state: "s 1"))
        XCTAssertTrue(response.location.hasPrefix("https://c.example/cb?code=gta_"), response.location)
        XCTAssertTrue(response.location.hasSuffix("&state=s+1&tenant=a+b"), response.location)
        let code = try XCTUnwrap(response.locationQuery["code"])
        XCTAssertEqual(code.count, 56)
        XCTAssertNil(code.dropFirst(4).first { !"abcdefghijklmnopqrstuvwxyz234567".contains($0) })
    }

    func testLoginAndConsentFlowWithScriptedBrowser() async throws {
        var browser = Browser()
        let start = try await send(.GET, authorizePath(clientID: broker.clientID, redirectURI: Self.brokerCallback))
        browser.absorb(start)
        XCTAssertEqual(start.location, "/user/login")

        let badLogin = try await postForm(
            "/user/login", [("user_name", "alice"), ("password", "nope")], headers: browser.cookieHeader)
        XCTAssertEqual(badLogin.status, 200)
        XCTAssertTrue(badLogin.body.contains("Username or password is incorrect."))

        let login = try await postForm(
            "/user/login", [("user_name", "alice"), ("password", "alice-pw")], headers: browser.cookieHeader)
        browser.absorb(login)
        XCTAssertEqual(login.status, 303)
        XCTAssertTrue(login.location.hasPrefix("/login/oauth/authorize?"), login.location)
        XCTAssertNil(browser.cookies["redirect_to"])

        let consent = try await send(.GET, login.location, headers: browser.cookieHeader)
        XCTAssertEqual(consent.status, 200)
        XCTAssertTrue(consent.body.contains("broker"))
        let hidden = Browser.hiddenFields(consent.body)
        XCTAssertEqual(hidden.map(\.0), ["_csrf", "client_id", "state", "scope", "nonce", "redirect_uri"])

        let granted = try await postForm(
            "/login/oauth/grant", hidden + [("granted", "true")], headers: browser.cookieHeader)
        XCTAssertEqual(granted.status, 303)
        let code = try XCTUnwrap(granted.locationQuery["code"])
        XCTAssertEqual(granted.locationQuery["state"], "st")
        try await assertEqualAsync(try await exchange(code).status, 200, "PKCE is enforced on the consent path too")

        // Confidential app with an existing grant: straight back with a code, no consent page.
        let again = try await send(
            .GET, authorizePath(clientID: broker.clientID, redirectURI: Self.brokerCallback), headers: browser.cookieHeader)
        XCTAssertEqual(again.status, 303)
        XCTAssertNotNil(again.locationQuery["code"])
    }

    func testConsentDeniedCSRFAndMismatch() async throws {
        let sessionCookie = try await logInAsAlice()
        let path = authorizePath(clientID: publicApp.clientID, redirectURI: Self.publicCallback)
        let consent = try await send(.GET, path, headers: [("Cookie", sessionCookie)])
        let hidden = Browser.hiddenFields(consent.body)

        var wrongCSRF = hidden
        wrongCSRF[0].1 = "forged"
        let forged = try await postForm(
            "/login/oauth/grant", wrongCSRF + [("granted", "true")], headers: [("Cookie", sessionCookie)])
        XCTAssertEqual(forged.status, 400)

        _ = try await send(.GET, path, headers: [("Cookie", sessionCookie)])
        let mismatched = hidden.map { $0.0 == "state" ? ($0.0, "other") : $0 }
        let mismatch = try await postForm(
            "/login/oauth/grant", mismatched + [("granted", "true")], headers: [("Cookie", sessionCookie)])
        XCTAssertEqual(mismatch.status, 400)

        _ = try await send(.GET, path, headers: [("Cookie", sessionCookie)])
        let denied = try await postForm(
            "/login/oauth/grant", hidden + [("granted", "false")], headers: [("Cookie", sessionCookie)])
        XCTAssertEqual(denied.locationQuery["error"], "access_denied")
        XCTAssertEqual(denied.locationQuery["error_description"], "the request is denied")

        let noSession = try await postForm("/login/oauth/grant", hidden + [("granted", "true")])
        XCTAssertEqual(noSession.location, "/user/login")
    }

    func testSecondConsentWithDifferentScopeIsServerError() async throws {
        let sessionCookie = try await logInAsAlice()
        for (scope, expectCode) in [("read:user", true), ("write:repository", false)] {
            let consent = try await send(
                .GET, authorizePath(clientID: publicApp.clientID, redirectURI: Self.publicCallback, scope: scope),
                headers: [("Cookie", sessionCookie)])
            XCTAssertEqual(consent.status, 200, "public clients always see the consent page")
            let result = try await postForm(
                "/login/oauth/grant", Browser.hiddenFields(consent.body) + [("granted", "true")],
                headers: [("Cookie", sessionCookie)])
            if expectCode {
                XCTAssertNotNil(result.locationQuery["code"])
            } else {
                XCTAssertEqual(result.locationQuery["error"], "server_error")
                XCTAssertEqual(result.locationQuery["error_description"], "a grant exists with different scope")
            }
        }
    }

    func testAutoApproveOptionAtStartup() async throws {
        let other = try await FakeForgejoServer.start(
            options: FakeForgejoOptions(
                autoApproveUser: "carol", users: [FakeUserSeed(login: "carol", password: "pw")],
                apps: [FakeAppSeed(name: "demo", redirectURIs: [Self.brokerCallback], clientID: "demo", clientSecret: "s")]
            ))
        let response = try await send(
            .GET, other.baseURL + authorizePath(clientID: "demo", redirectURI: Self.brokerCallback))
        XCTAssertEqual(response.status, 303)
        XCTAssertNotNil(response.locationQuery["code"])
        await other.stop()
    }

    private func logInAsAlice() async throws -> String {
        let login = try await postForm("/user/login", [("user_name", "alice"), ("password", "alice-pw")])
        var browser = Browser()
        browser.absorb(login)
        let session = try XCTUnwrap(browser.cookies["i_like_gitea"])
        return "i_like_gitea=\(session)"
    }
}
