import AsyncHTTPClient
import BrokerKit
import FakeForgejo
import Foundation
import NIOCore
import XCTest

/// "Who may connect" against the built `fjmcp-broker`: the sign-in policy at login and after a
/// Forgejo refresh (a user who left the organisation loses their sessions), the redirect host
/// allowlist, a static client's whole flow, and `check-config` on the new settings.
final class AccessPolicyBinaryTests: XCTestCase {
    /// Forgejo unable to list memberships when a refresh re-checks the policy is no reason to
    /// log anyone out: the user stays until a check gets an answer.
    func testARefreshWhosePolicyCheckCannotReachForgejoKeepsTheUser() async throws {
        let broker = try await ServedBroker.start(environment: ["FJMCP_ALLOWED_ORGS": "acme"])
        defer { Task { await broker.shutdown() } }
        try await broker.forgejo.state.createOrganization(name: "acme")
        try await broker.forgejo.state.addMember(organization: "acme", login: "alice")
        await broker.forgejo.state.setAccessTokenLifetime(seconds: 5)
        var (client, _) = try await broker.client(login: "alice")
        let opened = try await client.initialize()
        XCTAssertEqual(opened.status, 200, opened.body)

        await broker.forgejo.state.setMembershipListsFailing(true)
        // Refreshes at 80 % of the five-second lifetime: two of them, each re-checking the policy.
        let until = ContinuousClock.now + .seconds(9)
        var id = 1
        while ContinuousClock.now < until {
            let listed = try await client.call(id: id, method: "tools/list")
            XCTAssertEqual(listed.status, 200, listed.body)
            id += 1
            try await Task.sleep(for: .milliseconds(500))
        }
        let log = try XCTUnwrap(broker.process).stderr
        XCTAssertTrue(log.contains("checked_at=refresh"), "no refresh re-checked the policy: \(log)")
        XCTAssertFalse(log.contains("sessions ended: the sign-in policy"), log)
        let refreshes = await broker.forgejo.state.counters().refreshesByUser["alice"] ?? 0
        XCTAssertGreaterThanOrEqual(refreshes, 1)
    }

    func testLeavingTheAllowedOrganisationEndsTheSessionsAtTheNextRefresh() async throws {
        let auditLog = NSTemporaryDirectory() + "fjmcp-sign-in-audit-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: auditLog) }
        let broker = try await ServedBroker.start(environment: [
            "FJMCP_ALLOWED_ORGS": "acme", "FJMCP_ACCESS_CONTACT": "the Forgejo admins", "FJMCP_AUDIT_LOG": auditLog,
        ])
        defer { Task { await broker.shutdown() } }
        try await broker.forgejo.state.createOrganization(name: "acme")
        try await broker.forgejo.state.addMember(organization: "acme", login: "alice")

        do {
            _ = try await broker.client(login: "bob")
            XCTFail("bob is no member of acme")
        } catch let failure as MCPLogin.Failure {
            XCTAssertTrue(failure.description.contains("HTTP 403"), failure.description)
        }

        // Five-second Forgejo tokens: the broker refreshes alice's at 80 % while her child runs.
        await broker.forgejo.state.setAccessTokenLifetime(seconds: 5)
        var (client, _) = try await broker.client(login: "alice")
        let opened = try await client.initialize()
        XCTAssertEqual(opened.status, 200, opened.body)
        let listed = try await client.call(id: 1, method: "tools/list")
        XCTAssertEqual(listed.status, 200, listed.body)

        try await broker.forgejo.state.removeMember(organization: "acme", login: "alice")
        let deadline = ContinuousClock.now + .seconds(20)
        var status = 200
        while status == 200, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            status = try await client.call(id: 2, method: "tools/list").status
        }
        XCTAssertEqual(status, 401, "the refresh after leaving acme revoked alice's grant")
        let log = try XCTUnwrap(broker.process).stderr
        XCTAssertTrue(log.contains("sign-in refused") && log.contains("checked_at=refresh"), log)
        let ended = log.split(separator: "\n").first { $0.contains("sessions ended: the sign-in policy no longer admits the user") }
        XCTAssertTrue(ended?.contains("sessions=1") ?? false, log)
        func revocations() -> [[String: Any]] {
            ((try? String(contentsOfFile: auditLog, encoding: .utf8)) ?? "").split(separator: "\n")
                .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .filter { $0["event"] as? String == "revocation" }
        }
        _ = await eventually { !revocations().isEmpty }
        let revocation = try XCTUnwrap(revocations().first, "the revocation at the refresh is not in the audit log")
        XCTAssertEqual(revocation["user"] as? String, "alice")
        XCTAssertEqual(revocation["detail"] as? String, "sign_in_policy")
        XCTAssertNil(revocation["client"], "all of the user's grants")
    }

    func testRedirectHostsAndAStaticClientAgainstTheBinary() async throws {
        let secret = "static-secret-for-the-binary"
        let file = NSTemporaryDirectory() + "static-clients-\(UUID().uuidString).json"
        try Data("""
            [{"client_id": "pasted", "client_secret_sha256": "\(TokenHasher.hash(secret))", "name": "Pasted",
              "redirect_uris": ["com.example.pasted:/cb"]}]
            """.utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let broker = try await ServedBroker.start(environment: [
            "FJMCP_ALLOWED_REDIRECT_HOSTS": "localhost", "FJMCP_STATIC_CLIENTS_FILE": file,
        ])
        defer { Task { await broker.shutdown() } }

        let refused = try await Self.postJSON(broker, "/oauth/register", ["redirect_uris": ["https://elsewhere.example/cb"]])
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual(refused.error, "invalid_redirect_uri")
        _ = try await broker.client(login: "alice")

        let tokens = try await Self.staticLogin(broker, clientID: "pasted", secret: secret, redirectURI: "com.example.pasted:/cb")
        XCTAssertEqual(tokens.status, 200, tokens.body)
        let guessed = try await Self.staticLogin(broker, clientID: "pasted", secret: "guess", redirectURI: "com.example.pasted:/cb")
        XCTAssertEqual(guessed.status, 401)
        XCTAssertEqual(guessed.error, "invalid_client")
    }

    func testClientIDHostsAgainstTheBinary() async throws {
        let host = try await DocumentHost.start()
        defer { Task { await host.stop() } }
        let broker = try await ServedBroker.start(environment: [
            "FJMCP_ALLOWED_CLIENT_ID_HOSTS": "127.0.0.1", "FJMCP_CIMD_ALLOW_PRIVATE": "true", "FJMCP_CIMD_PORTS": "any",
        ])
        defer { Task { await broker.shutdown() } }
        let clientID = host.url("/client.json")
        await host.serve("/client.json", body: #"{"client_id":"\#(clientID)","client_name":"Doc","redirect_uris":["http://127.0.0.1:7777/cb"]}"#)
        let allowed = try await Self.authorizePage(broker, clientID: clientID)
        XCTAssertEqual(allowed.status, 200, allowed.body)
        XCTAssertTrue(allowed.body.contains("action=\"/oauth/consent\""), allowed.body)
        let elsewhere = clientID.replacingOccurrences(of: "127.0.0.1", with: "localhost")
        let refused = try await Self.authorizePage(broker, clientID: elsewhere)
        XCTAssertEqual(refused.status, 400)
        XCTAssertTrue(refused.body.contains("client_id_host_not_allowed"), refused.body)
    }

    func testCheckConfigValidatesAndSummarisesTheAccessSettings() async throws {
        let file = NSTemporaryDirectory() + "static-clients-\(UUID().uuidString).json"
        try Data(#"[{"client_id": "x", "client_secret_sha256": "short", "name": "X", "redirect_uris": ["https://a.example/cb"]}]"#.utf8)
            .write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        var env = ["FJMCP_PUBLIC_URL": "http://127.0.0.1:8080", "FJMCP_DATA_DIR": NSTemporaryDirectory() + "unused",
                   "FORGEJO_URL": "http://127.0.0.1:1", "FORGEJO_CLIENT_ID": "id", "FORGEJO_CLIENT_SECRET": "secret",
                   "FJMCP_CHILD_SANDBOX": "off", "FJMCP_STATIC_CLIENTS_FILE": file,
                   "FJMCP_ALLOWED_ORGS": "acme", "FORGEJO_SCOPES": "read:user read:repository",
                   "FJMCP_ALLOWED_REDIRECT_HOSTS": "https://claude.ai"]
        let bad = try ProductProcess("fjmcp-broker", arguments: ["check-config"], environment: env)
        let badStatus = await bad.waitForExit(timeout: .seconds(10))
        XCTAssertEqual(badStatus, 2)
        for expected in ["FJMCP_STATIC_CLIENTS_FILE=\(file) is invalid: entry 0: client_secret_sha256 must be 64 hex digits",
                         "FJMCP_ALLOWED_ORGS needs the Forgejo scope read:organization",
                         "FJMCP_ALLOWED_REDIRECT_HOSTS: 'https://claude.ai' is invalid"] {
            XCTAssertTrue(bad.stderr.contains(expected), "\(expected) missing from \(bad.stderr)")
        }
        env["FJMCP_STATIC_CLIENTS_FILE"] = nil
        env["FORGEJO_SCOPES"] = "read:user read:organization read:repository"
        env["FJMCP_ALLOWED_REDIRECT_HOSTS"] = "claude.ai,cursor:"
        let good = try ProductProcess("fjmcp-broker", arguments: ["check-config"], environment: env)
        let goodStatus = await good.waitForExit(timeout: .seconds(10))
        XCTAssertEqual(goodStatus, 0, good.stderr)
        XCTAssertTrue(good.stdout.contains("sign-in: 0 user(s), 1 organisation(s), 0 team(s)"), good.stdout)
        XCTAssertTrue(good.stdout.contains("redirect hosts: claude.ai,cursor:; client id hosts: any; static clients: 0"), good.stdout)
    }

    // MARK: - Helpers

    static func authorizePage(_ broker: ServedBroker, clientID: String) async throws -> ScriptedBrowser.Page {
        let browser = ScriptedBrowser()
        defer { Task { try? await browser.shutdown() } }
        return try await browser.get(broker.baseURL + "/oauth/authorize?" + FormEncoding.encode([
            ("response_type", "code"), ("client_id", clientID), ("redirect_uri", "http://127.0.0.1:7777/cb"),
            ("code_challenge", PKCEPair.make().challenge), ("code_challenge_method", "S256"), ("state", "s"),
        ]))
    }

    static func postJSON(_ broker: ServedBroker, _ path: String, _ object: Any) async throws -> JSONAnswer {
        var request = HTTPClientRequest(url: broker.baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(try JSONSerialization.data(withJSONObject: object))
        let response = try await broker.httpClient.execute(request, timeout: .seconds(10))
        return JSONAnswer(status: Int(response.status.code), headers: response.headers,
                          body: String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    /// Authorize → consent → Forgejo (auto-approved alice) → callback → code, then the code
    /// exchange with HTTP Basic as the static client; the token endpoint's answer.
    static func staticLogin(_ broker: ServedBroker, clientID: String, secret: String, redirectURI: String) async throws -> JSONAnswer {
        await broker.forgejo.state.setAutoApproveUser("alice")
        let pkce = PKCEPair.make()
        let browser = ScriptedBrowser()
        defer { Task { try? await browser.shutdown() } }
        var page = try await browser.get(broker.baseURL + "/oauth/authorize?" + FormEncoding.encode([
            ("response_type", "code"), ("client_id", clientID), ("redirect_uri", redirectURI), ("code_challenge", pkce.challenge),
            ("code_challenge_method", "S256"), ("state", "s"), ("scope", "mcp"),
        ]))
        var current = broker.baseURL
        for _ in 0..<10 {
            if page.status == 200, page.body.contains("action=\"/oauth/consent\"") {
                page = try await browser.post(broker.baseURL + "/oauth/consent", form: ScriptedBrowser.hiddenFields(page.body) + [("decision", "approve")])
                continue
            }
            guard (300..<400).contains(page.status), let location = page.location else { break }
            if location.hasPrefix(redirectURI), let code = FormEncoding.query(of: location)["code"] {
                let basic = Data("\(clientID):\(secret)".utf8).base64EncodedString()
                var request = HTTPClientRequest(url: broker.baseURL + "/oauth/token")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                request.headers.add(name: "Authorization", value: "Basic \(basic)")
                request.body = .bytes(ByteBuffer(string: FormEncoding.encode([
                    ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI), ("code_verifier", pkce.verifier),
                ])))
                let response = try await broker.httpClient.execute(request, timeout: .seconds(10))
                return JSONAnswer(status: Int(response.status.code), headers: response.headers,
                                  body: String(buffer: try await response.body.collect(upTo: 1 << 20)))
            }
            let absolute = location.hasPrefix("/") ? OAuthTestBroker.origin(of: current) + location : location
            current = absolute
            page = try await browser.get(absolute)
        }
        throw MCPLogin.Failure(description: "static login stopped at HTTP \(page.status): \(page.body.prefix(300))")
    }
}
