import AsyncHTTPClient
import BrokerKit
import Foundation
import NIOCore

/// The OAuth steps an MCP client goes through (DCR, authorize with consent, Forgejo
/// auto-approval, callback, code exchange), against any broker base URL: the MCP suites need it
/// for brokers the OAuth harness does not build (the served binary, custom child commands).
enum MCPLogin {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// What the code exchange handed the client.
    struct Tokens: Sendable {
        let accessToken: String
        let refreshToken: String?
        let clientID: String
    }

    static func accessToken(baseURL: String, resource: String, httpClient: HTTPClient) async throws -> String {
        try await login(baseURL: baseURL, resource: resource, httpClient: httpClient).accessToken
    }

    static func login(baseURL: String, resource: String, httpClient: HTTPClient) async throws -> Tokens {
        let redirectURI = "http://127.0.0.1:9999/callback"
        let registration = try await send(baseURL + "/oauth/register", httpClient: httpClient, json: [
            "redirect_uris": [redirectURI], "client_name": "MCP Test Client", "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        ])
        guard let clientID = registration.json["client_id"] as? String else { throw Failure(description: "register: \(registration.body)") }
        let pkce = PKCEPair.make()
        let browser = ScriptedBrowser()
        defer { Task { try? await browser.shutdown() } }
        var page = try await browser.get(baseURL + "/oauth/authorize?" + FormEncoding.encode([
            ("response_type", "code"), ("client_id", clientID), ("redirect_uri", redirectURI), ("code_challenge", pkce.challenge),
            ("code_challenge_method", "S256"), ("state", "s"), ("resource", resource), ("scope", "mcp"),
        ]))
        var current = baseURL
        for _ in 0..<10 {
            if page.status == 200, page.body.contains("action=\"/oauth/consent\"") {
                page = try await browser.post(baseURL + "/oauth/consent", form: ScriptedBrowser.hiddenFields(page.body) + [("decision", "approve")])
                continue
            }
            guard (300..<400).contains(page.status), let location = page.location else { break }
            let absolute = location.hasPrefix("/") ? OAuthTestBroker.origin(of: current) + location : location
            if absolute.hasPrefix(redirectURI) {
                guard let code = FormEncoding.query(of: absolute)["code"] else { break }
                let answer = try await send(baseURL + "/oauth/token", httpClient: httpClient, form: [
                    ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI),
                    ("code_verifier", pkce.verifier), ("resource", resource), ("client_id", clientID),
                ])
                guard let token = answer.json["access_token"] as? String else { throw Failure(description: "token: \(answer.body)") }
                return Tokens(accessToken: token, refreshToken: answer.json["refresh_token"] as? String, clientID: clientID)
            }
            current = absolute
            page = try await browser.get(absolute)
        }
        throw Failure(description: "login stopped at HTTP \(page.status): \(page.body.prefix(300))")
    }

    private static func send(_ url: String, httpClient: HTTPClient, json: Any) async throws -> JSONAnswer {
        try await send(url, httpClient: httpClient, body: JSONSerialization.data(withJSONObject: json), contentType: "application/json")
    }

    static func send(_ url: String, httpClient: HTTPClient, form: [(String, String)]) async throws -> JSONAnswer {
        try await send(url, httpClient: httpClient, body: Data(FormEncoding.encode(form).utf8), contentType: "application/x-www-form-urlencoded")
    }

    private static func send(_ url: String, httpClient: HTTPClient, body: Data, contentType: String) async throws -> JSONAnswer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await httpClient.execute(request, timeout: .seconds(30))
        let collected = try await response.body.collect(upTo: 1 << 20)
        return JSONAnswer(status: Int(response.status.code), headers: response.headers, body: String(buffer: collected))
    }
}
