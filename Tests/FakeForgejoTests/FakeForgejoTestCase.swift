import AsyncHTTPClient
import Crypto
import FakeForgejo
import Foundation
import NIOCore
import NIOHTTP1
import XCTest

/// A response reduced to what assertions need.
struct TestResponse {
    let status: Int
    let headers: HTTPHeaders
    let body: String

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }

    var location: String { headers.first(name: "Location") ?? "" }

    /// Query parameters of the `Location` header.
    var locationQuery: [String: String] {
        var result: [String: String] = [:]
        // Forgejo's redirects are form-encoded (`+` for space), which URLComponents does not undo.
        let formDecoded = location.replacingOccurrences(of: "+", with: "%20")
        for item in URLComponents(string: formDecoded)?.queryItems ?? [] { result[item.name] = item.value ?? "" }
        return result
    }
}

/// Starts a fresh fake per test on an OS-assigned port, seeded with two users, a confidential app
/// (the broker) and a public app; talks to it over real loopback HTTP without following redirects.
class FakeForgejoTestCase: XCTestCase {
    static let brokerCallback = "https://broker.example/oauth/callback"
    static let publicCallback = "http://127.0.0.1/callback"
    static let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

    var server: FakeForgejoServer!
    var http: HTTPClient!
    var broker: FakeAppCredentials!
    var publicApp: FakeAppCredentials!

    var state: FakeForgejoState { server.state }

    func options() -> FakeForgejoOptions {
        FakeForgejoOptions(users: [
            FakeUserSeed(login: "alice", password: "alice-pw", id: 42),
            FakeUserSeed(login: "bob", password: "bob-pw", isAdmin: true),
        ])
    }

    override func setUp() async throws {
        server = try await FakeForgejoServer.start(options: options())
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        broker = try await state.registerApp(FakeAppSeed(name: "broker", redirectURIs: [Self.brokerCallback]))
        publicApp = try await state.registerApp(
            FakeAppSeed(name: "cli", redirectURIs: [Self.publicCallback], confidential: false))
    }

    override func tearDown() async throws {
        try await http?.shutdown()
        await server?.stop()
    }

    static func challenge(_ verifier: String) -> String {
        Data(SHA256.hash(data: Data(verifier.utf8))).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func form(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-_.~")
        return fields.map {
            "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
        }.joined(separator: "&")
    }

    func send(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: String? = nil
    ) async throws -> TestResponse {
        var request = HTTPClientRequest(url: path.hasPrefix("http") ? path : server.baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await http.execute(request, timeout: .seconds(10))
        let buffer = try await response.body.collect(upTo: 1 << 20)
        return TestResponse(status: Int(response.status.code), headers: response.headers, body: String(buffer: buffer))
    }

    func postForm(_ path: String, _ fields: [(String, String)], headers: [(String, String)] = []) async throws
        -> TestResponse
    {
        try await send(
            .POST, path, headers: [("Content-Type", "application/x-www-form-urlencoded")] + headers,
            body: Self.form(fields))
    }

    func postJSON(_ path: String, _ object: [String: String], headers: [(String, String)] = []) async throws
        -> TestResponse
    {
        let data = try JSONSerialization.data(withJSONObject: object)
        return try await send(
            .POST, path, headers: [("Content-Type", "application/json")] + headers,
            body: String(decoding: data, as: UTF8.self))
    }

    func authorizePath(
        clientID: String, redirectURI: String, state: String = "st", method: String = "S256",
        challenge: String = FakeForgejoTestCase.challenge(FakeForgejoTestCase.verifier), scope: String = "",
        responseType: String = "code"
    ) -> String {
        "/login/oauth/authorize?"
            + Self.form([
                ("client_id", clientID), ("redirect_uri", redirectURI), ("response_type", responseType),
                ("state", state), ("scope", scope), ("code_challenge_method", method), ("code_challenge", challenge),
            ])
    }

    /// A code for `login` via the auto-approve shortcut.
    func code(for login: String = "alice", app: FakeAppCredentials? = nil, redirectURI: String? = nil) async throws
        -> String
    {
        await state.setAutoApproveUser(login)
        let response = try await send(
            .GET,
            authorizePath(
                clientID: (app ?? broker).clientID, redirectURI: redirectURI ?? Self.brokerCallback))
        await state.setAutoApproveUser(nil)
        XCTAssertEqual(response.status, 303)
        return try XCTUnwrap(response.locationQuery["code"])
    }

    func exchange(_ code: String, app: FakeAppCredentials? = nil) async throws -> TestResponse {
        let app: FakeAppCredentials = app ?? broker
        return try await postForm(
            "/login/oauth/access_token",
            [
                ("grant_type", "authorization_code"), ("client_id", app.clientID), ("client_secret", app.clientSecret),
                ("code", code), ("code_verifier", Self.verifier),
            ])
    }

    func refresh(_ refreshToken: String, app: FakeAppCredentials? = nil) async throws -> TestResponse {
        let app: FakeAppCredentials = app ?? broker
        return try await postForm(
            "/login/oauth/access_token",
            [
                ("grant_type", "refresh_token"), ("client_id", app.clientID), ("client_secret", app.clientSecret),
                ("refresh_token", refreshToken),
            ])
    }

    /// Logs alice in through the shortcut and returns (access, refresh).
    func tokens(for login: String = "alice") async throws -> (access: String, refresh: String) {
        let response = try await exchange(try await code(for: login))
        XCTAssertEqual(response.status, 200, response.body)
        return (
            try XCTUnwrap(response.json["access_token"] as? String), try XCTUnwrap(response.json["refresh_token"] as? String)
        )
    }

    func apiGet(_ path: String, token: String?, scheme: String = "token") async throws -> TestResponse {
        try await send(.GET, path, headers: token.map { [("Authorization", "\(scheme) \($0)")] } ?? [])
    }

    /// `XCTAssertEqual` whose autoclosure cannot await; this one can.
    func assertEqualAsync<T: Equatable>(
        _ expression: @autoclosure () async throws -> T, _ expected: T, _ message: String = "",
        file: StaticString = #filePath, line: UInt = #line
    ) async rethrows {
        let value = try await expression()
        XCTAssertEqual(value, expected, message, file: file, line: line)
    }

    func assertOAuthError(
        _ response: TestResponse, _ error: String, _ description: String, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        XCTAssertEqual(response.status, 400, file: file, line: line)
        XCTAssertEqual(response.json["error"] as? String, error, response.body, file: file, line: line)
        XCTAssertEqual(response.json["error_description"] as? String, description, file: file, line: line)
    }
}
