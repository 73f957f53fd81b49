import AsyncHTTPClient
import BrokerKit
import Foundation
import NIOCore
import NIOHTTP1
import XCTest

/// An MCP client's view of the broker: its registration and the token endpoint calls.
struct OAuthTestClient: Sendable {
    let clientID: String
    let secret: String?
    let redirectURI: String
    /// `none`, `client_secret_post` or `client_secret_basic`.
    let authMethod: String
}

struct PKCEPair: Sendable {
    let verifier: String
    var challenge: String { TokenHasher.pkceChallenge(verifier: verifier) }

    static func make() -> PKCEPair { PKCEPair(verifier: Base64URL.encode(OpaqueToken.randomBytes(32))) }
}

struct TokenSet: Sendable {
    let accessToken: String
    let refreshToken: String
    let client: OAuthTestClient
}

/// A JSON answer from the broker.
struct JSONAnswer: @unchecked Sendable {
    let status: Int
    let headers: HTTPHeaders
    let body: String
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    var error: String? { json["error"] as? String }
}

extension OAuthTestBroker {
    /// Registers a client through DCR.
    func register(redirectURIs: [String] = ["http://127.0.0.1:9999/callback"], authMethod: String = "none",
                  name: String = "Test Client") async throws -> OAuthTestClient {
        let answer = try await postJSON("/oauth/register", [
            "redirect_uris": redirectURIs, "client_name": name, "token_endpoint_auth_method": authMethod,
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        ])
        guard answer.status == 201, let id = answer.json["client_id"] as? String else {
            throw ScriptedBrowser.UnexpectedPage(page: .init(status: answer.status, headers: answer.headers, body: answer.body), step: "register")
        }
        return OAuthTestClient(clientID: id, secret: answer.json["client_secret"] as? String, redirectURI: redirectURIs[0], authMethod: authMethod)
    }

    func postJSON(_ path: String, _ object: Any) async throws -> JSONAnswer {
        try await post(path, body: JSONSerialization.data(withJSONObject: object), contentType: "application/json")
    }

    func post(_ path: String, body: Data, contentType: String, headers: [(String, String)] = []) async throws -> JSONAnswer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        return try await execute(request)
    }

    /// A form POST; `client` adds its authentication the way it registered.
    func postForm(_ path: String, _ fields: [(String, String)], client: OAuthTestClient? = nil, headers: [(String, String)] = []) async throws -> JSONAnswer {
        var fields = fields
        var headers = headers
        if let client {
            switch client.authMethod {
            case "client_secret_basic":
                headers.append(("Authorization", "Basic " + Data("\(client.clientID):\(client.secret ?? "")".utf8).base64EncodedString()))
            case "client_secret_post":
                fields += [("client_id", client.clientID), ("client_secret", client.secret ?? "")]
            default:
                fields.append(("client_id", client.clientID))
            }
        }
        return try await post(path, body: Data(FormEncoding.encode(fields).utf8), contentType: "application/x-www-form-urlencoded", headers: headers)
    }

    func get(_ path: String, headers: [(String, String)] = []) async throws -> JSONAnswer {
        var request = HTTPClientRequest(url: path.hasPrefix("http") ? path : baseURL + path)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return try await execute(request)
    }

    func mcp(_ accessToken: String?, method: HTTPMethod = .POST) async throws -> JSONAnswer {
        var request = HTTPClientRequest(url: baseURL + "/mcp")
        request.method = method
        if let accessToken { request.headers.add(name: "Authorization", value: "Bearer \(accessToken)") }
        return try await execute(request)
    }

    private func execute(_ request: HTTPClientRequest) async throws -> JSONAnswer {
        let response = try await httpClient.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return JSONAnswer(status: Int(response.status.code), headers: response.headers, body: String(buffer: body))
    }

    func authorizeURL(client: OAuthTestClient, pkce: PKCEPair, state: String = "client-state", extra: [(String, String)] = []) -> String {
        baseURL + "/oauth/authorize?" + FormEncoding.encode([
            ("response_type", "code"), ("client_id", client.clientID), ("redirect_uri", client.redirectURI),
            ("code_challenge", pkce.challenge), ("code_challenge_method", "S256"), ("state", state),
            ("resource", config.mcpResource), ("scope", "mcp"),
        ] + extra)
    }

    /// Drives the browser from `startURL` through consent, Forgejo login/consent and the
    /// callback until it is redirected to `redirectPrefix`; returns that final URL.
    func drive(_ browser: ScriptedBrowser, from startURL: String, until redirectPrefix: String,
               login: (user: String, password: String)? = nil, decision: String = "approve") async throws -> String {
        var page = try await browser.get(startURL)
        var step = startURL
        for _ in 0..<15 {
            if (300..<400).contains(page.status), let location = page.location {
                let absolute = location.hasPrefix("/") ? Self.origin(of: step) + location : location
                if absolute.hasPrefix(redirectPrefix) { return absolute }
                step = absolute
                page = try await browser.get(absolute)
            } else if page.status == 200, page.body.contains("action=\"/oauth/consent\"") {
                step = baseURL + "/oauth/consent"
                page = try await browser.post(step, form: ScriptedBrowser.hiddenFields(page.body) + [("decision", decision)])
            } else if page.status == 200, page.body.contains("action=\"/user/login\""), let login {
                step = forgejo.baseURL + "/user/login"
                page = try await browser.post(step, form: [("user_name", login.user), ("password", login.password)])
            } else if page.status == 200, page.body.contains("action=\"/login/oauth/grant\"") {
                step = forgejo.baseURL + "/login/oauth/grant"
                page = try await browser.post(step, form: ScriptedBrowser.hiddenFields(page.body) + [("granted", "true")])
            } else {
                throw ScriptedBrowser.UnexpectedPage(page: page, step: step)
            }
        }
        throw ScriptedBrowser.UnexpectedPage(page: page, step: "too many steps")
    }

    static func origin(of url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host else { return "" }
        return "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
    }

    func exchange(code: String, client: OAuthTestClient, pkce: PKCEPair, extra: [(String, String)] = []) async throws -> JSONAnswer {
        try await postForm("/oauth/token", [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", client.redirectURI),
            ("code_verifier", pkce.verifier), ("resource", config.mcpResource),
        ] + extra, client: client)
    }

    func refresh(_ refreshToken: String, client: OAuthTestClient) async throws -> JSONAnswer {
        try await postForm("/oauth/token", [("grant_type", "refresh_token"), ("refresh_token", refreshToken)], client: client)
    }

    /// Authorize → consent → Forgejo → callback; returns the broker code and the PKCE pair.
    func authorizationCode(client: OAuthTestClient, browser: ScriptedBrowser,
                           login: (user: String, password: String)? = nil) async throws -> (code: String, pkce: PKCEPair) {
        let pkce = PKCEPair.make()
        let final = try await drive(browser, from: authorizeURL(client: client, pkce: pkce), until: client.redirectURI, login: login)
        let query = FormEncoding.query(of: final)
        guard let code = query["code"] else {
            throw ScriptedBrowser.UnexpectedPage(page: .init(status: 0, headers: [:], body: final), step: "callback redirect")
        }
        return (code, pkce)
    }

    /// The whole login of `client` as the Forgejo user the browser logs in as (auto-approved
    /// by default), ending with a token set.
    func logInAndGetTokens(client: OAuthTestClient, browser: ScriptedBrowser,
                           login: (user: String, password: String)? = nil) async throws -> TokenSet {
        let (code, pkce) = try await authorizationCode(client: client, browser: browser, login: login)
        let answer = try await exchange(code: code, client: client, pkce: pkce)
        guard answer.status == 200, let access = answer.json["access_token"] as? String,
              let refresh = answer.json["refresh_token"] as? String else {
            throw ScriptedBrowser.UnexpectedPage(page: .init(status: answer.status, headers: answer.headers, body: answer.body), step: "token")
        }
        return TokenSet(accessToken: access, refreshToken: refresh, client: client)
    }
}
