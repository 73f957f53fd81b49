import AsyncHTTPClient
import BrokerKit
import Crypto
import FakeForgejo
import Foundation
import NIOCore
import NIOPosix
import XCTest

/// `ForgejoClient` against a running fake Forgejo over loopback: the happy paths and every
/// error class of forgejo-notes D4.
final class UpstreamForgejoClientTests: XCTestCase {
    static let callback = "https://broker.example/oauth/callback"
    static let verifier = "upstream-test-verifier-0123456789-abcdefghijklmnop"

    var server: FakeForgejoServer!
    var http: HTTPClient!
    var client: ForgejoClient!
    var credentials: FakeAppCredentials!

    override func setUp() async throws {
        server = try await FakeForgejoServer.start(
            options: FakeForgejoOptions(users: [FakeUserSeed(login: "alice", password: "pw", id: 42, isAdmin: true)]))
        credentials = try await server.state.registerApp(FakeAppSeed(name: "broker", redirectURIs: [Self.callback]))
        http = HTTPClient(eventLoopGroupProvider: .singleton)
        client = makeClient()
    }

    override func tearDown() async throws {
        try await http?.shutdown()
        await server?.stop()
    }

    func makeClient(
        baseURL: String? = nil, secret: String? = nil, timeout: Duration = .seconds(10)
    ) -> ForgejoClient {
        ForgejoClient(
            httpClient: http,
            configuration: .init(
                baseURL: baseURL ?? server.baseURL + "/", clientID: credentials.clientID,
                clientSecret: secret ?? credentials.clientSecret, callbackURL: Self.callback,
                scopes: ["read:user", "write:repository"], requestTimeout: timeout))
    }

    static var challenge: String {
        Data(SHA256.hash(data: Data(verifier.utf8))).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Follows `authorizeURL` through the fake's auto-approve shortcut and returns the code.
    func obtainCode() async throws -> String {
        await server.state.setAutoApproveUser("alice")
        var request = HTTPClientRequest(url: client.authorizeURL(state: "s-1", codeChallenge: Self.challenge))
        request.method = .GET
        let noRedirects = HTTPClient(
            eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        let response = try await noRedirects.execute(request, timeout: .seconds(5))
        try await noRedirects.shutdown()
        XCTAssertEqual(response.status.code, 303)
        let location = try XCTUnwrap(response.headers.first(name: "Location"))
        XCTAssertTrue(location.hasPrefix(Self.callback + "?"))
        let items = URLComponents(string: location)?.queryItems ?? []
        XCTAssertEqual(items.first { $0.name == "state" }?.value, "s-1")
        return try XCTUnwrap(items.first { $0.name == "code" }?.value)
    }

    func login() async throws -> UpstreamTokenResponse {
        try await client.exchangeCode(try await obtainCode(), codeVerifier: Self.verifier)
    }

    func assertThrows<T>(
        _ expected: UpstreamError, file: StaticString = #filePath, line: UInt = #line,
        _ body: () async throws -> T
    ) async {
        do {
            _ = try await body()
            XCTFail("expected \(expected)", file: file, line: line)
        } catch {
            XCTAssertEqual(error as? UpstreamError, expected, "\(error)", file: file, line: line)
        }
    }

    func testAuthorizeURLCarriesPKCEAndScope() throws {
        let url = try XCTUnwrap(URLComponents(string: client.authorizeURL(state: "a b", codeChallenge: "xyz")))
        XCTAssertEqual(url.path, "/login/oauth/authorize")
        let items = Dictionary(uniqueKeysWithValues: (url.queryItems ?? []).map { ($0.name, $0.value ?? "") })
        XCTAssertEqual(items["client_id"], credentials.clientID)
        XCTAssertEqual(items["redirect_uri"], Self.callback)
        XCTAssertEqual(items["response_type"], "code")
        XCTAssertEqual(items["scope"], "read:user write:repository")
        XCTAssertEqual(items["state"], "a b")
        XCTAssertEqual(items["code_challenge"], "xyz")
        XCTAssertEqual(items["code_challenge_method"], "S256")
    }

    func testExchangeRefreshUserAndVersion() async throws {
        let tokens = try await login()
        XCTAssertEqual(tokens.tokenType, "bearer")
        XCTAssertEqual(tokens.expiresIn, 3600)
        let refreshToken = try XCTUnwrap(tokens.refreshToken)
        XCTAssertFalse(tokens.description.contains(tokens.accessToken), "description must not leak tokens")
        XCTAssertFalse(tokens.description.contains(refreshToken))

        let user = try await client.currentUser(accessToken: tokens.accessToken)
        XCTAssertEqual(user, ForgejoUser(
            id: 42, login: "alice", fullName: "Alice User", email: "alice@fake-forgejo.test",
            avatarURL: "\(server.baseURL)/avatars/42", isAdmin: true))

        let refreshed = try await client.refresh(refreshToken: refreshToken)
        XCTAssertNotEqual(refreshed.refreshToken, refreshToken)
        let again = try await client.currentUser(accessToken: refreshed.accessToken)
        XCTAssertEqual(again.login, "alice")
        let version = try await client.version()
        XCTAssertEqual(version, "12.0.0+gitea-1.22.0")
    }

    func testCodeErrors() async throws {
        let code = try await obtainCode()
        await assertThrows(.loginRequired(reason: .pkceFailed)) {
            try await client.exchangeCode(code, codeVerifier: "wrong")
        }
        _ = try await client.exchangeCode(code, codeVerifier: Self.verifier)
        await assertThrows(.loginRequired(reason: .codeRejected)) {
            try await client.exchangeCode(code, codeVerifier: Self.verifier)
        }
    }

    func testRevokedGrant() async throws {
        let tokens = try await login()
        try await server.state.revokeGrant(login: "alice", clientID: credentials.clientID)
        await assertThrows(.loginRequired(reason: .grantRevoked)) {
            try await client.refresh(refreshToken: tokens.refreshToken ?? "")
        }
        await assertThrows(.loginRequired(reason: .accessTokenRejected)) {
            try await client.currentUser(accessToken: tokens.accessToken)
        }
    }

    func testExpiredRefreshToken() async throws {
        await server.state.setRefreshTokenLifetime(hours: 1)
        let tokens = try await login()
        await server.state.advanceClock(seconds: 3601)
        await assertThrows(.loginRequired(reason: .refreshTokenInvalid)) {
            try await client.refresh(refreshToken: tokens.refreshToken ?? "")
        }
    }

    func testReusedRefreshToken() async throws {
        let tokens = try await login()
        _ = try await client.refresh(refreshToken: tokens.refreshToken ?? "")
        await assertThrows(.refreshTokenAlreadyUsed) {
            try await client.refresh(refreshToken: tokens.refreshToken ?? "")
        }
        XCTAssertEqual(UpstreamError.refreshTokenAlreadyUsed.reasonCode, "upstream_refresh_token_reused")
    }

    func testBadSecretAndUnknownClient() async throws {
        let tokens = try await login()
        let wrongSecret = makeClient(secret: "wrong")
        await assertThrows(.misconfigured(reason: .invalidClientSecret)) {
            try await wrongSecret.refresh(refreshToken: tokens.refreshToken ?? "")
        }
        let code = try await obtainCode()
        await assertThrows(.misconfigured(reason: .invalidClientSecret)) {
            try await wrongSecret.exchangeCode(code, codeVerifier: Self.verifier)
        }
        try await server.state.deleteApp(clientID: credentials.clientID)
        await assertThrows(.misconfigured(reason: .unknownClient)) {
            try await client.refresh(refreshToken: tokens.refreshToken ?? "")
        }
    }

    func testForgejoDownIsTransient() async throws {
        let port = server.baseURL.split(separator: ":").last.map(String.init) ?? ""
        await server.stop()
        // AHC retries refused connections until the deadline, so keep it short.
        let down = makeClient(baseURL: "http://127.0.0.1:\(port)", timeout: .seconds(1))
        await assertThrows(.transient(reason: .connectionFailed)) { try await down.version() }
        await assertThrows(.transient(reason: .connectionFailed)) { try await down.refresh(refreshToken: "x") }
    }

    func testServerErrorAndHTMLAreTransient() async throws {
        let tokens = try await login()
        let refreshToken = tokens.refreshToken ?? ""
        await server.state.injectFault(.serverError, target: .token)
        await assertThrows(.transient(reason: .serverError(status: 500))) {
            try await client.refresh(refreshToken: refreshToken)
        }
        await server.state.injectFault(.htmlGarbage, target: .token)
        await assertThrows(.transient(reason: .nonJSONResponse)) {
            try await client.refresh(refreshToken: refreshToken)
        }
        await server.state.injectFault(.htmlGarbage, target: .api)
        await assertThrows(.transient(reason: .nonJSONResponse)) {
            try await client.currentUser(accessToken: tokens.accessToken)
        }
        await server.state.injectFault(.closeConnection, target: .api)
        await assertThrows(.transient(reason: .connectionFailed)) { try await client.version() }
        // The faults did not consume the refresh token.
        _ = try await client.refresh(refreshToken: refreshToken)
    }

    func testSlowForgejoTimesOut() async throws {
        await server.state.injectFault(.hang(milliseconds: 2_000), target: .api)
        let impatient = makeClient(timeout: .milliseconds(300))
        let started = ContinuousClock.now
        await assertThrows(.transient(reason: .timeout)) { try await impatient.version() }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(2))
    }

    func testMissingRefreshTokenIsNotAnError() async throws {
        let tokens = try await login()
        await server.state.injectFault(.omitRefreshToken, target: .token)
        let refreshed = try await client.refresh(refreshToken: tokens.refreshToken ?? "")
        XCTAssertNil(refreshed.refreshToken)
        XCTAssertFalse(refreshed.accessToken.isEmpty)
    }
}
