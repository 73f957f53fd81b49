import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Talks to Forgejo on behalf of the broker: the OAuth code exchange and refresh, and the two API
/// calls the broker needs itself. Stateless; token storage and single-flighting belong to callers.
///
/// Client authentication is `client_secret_post` (accepted by every Forgejo version), API calls
/// use `Authorization: token <t>`. No token ever appears in a thrown error.
public struct ForgejoClient: Sendable {
    public struct Configuration: Sendable {
        /// Forgejo ROOT_URL, with or without a trailing slash.
        public var baseURL: String
        public var clientID: String
        public var clientSecret: String
        /// The broker's `/oauth/callback`, registered exactly in Forgejo.
        public var callbackURL: String
        /// Granular Forgejo scopes; empty means full API access (forgejo-notes A8).
        public var scopes: [String]
        public var requestTimeout: Duration
        public var maxResponseBytes: Int

        public init(
            baseURL: String, clientID: String, clientSecret: String, callbackURL: String, scopes: [String] = [],
            requestTimeout: Duration = .seconds(10), maxResponseBytes: Int = 1 << 20
        ) {
            self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.callbackURL = callbackURL
            self.scopes = scopes
            self.requestTimeout = requestTimeout
            self.maxResponseBytes = maxResponseBytes
        }

        /// The broker's own app registration, shared by the login leg and the token manager
        /// (both must present the same client and callback to Forgejo).
        public init(broker config: BrokerConfig) {
            self.init(
                baseURL: config.forgejo.baseURL, clientID: config.forgejo.clientID, clientSecret: config.forgejo.clientSecret,
                callbackURL: config.issuer + "/oauth/callback", scopes: config.forgejo.scopes.split(separator: " ").map(String.init))
        }
    }

    public let configuration: Configuration
    private let httpClient: HTTPClient

    public init(httpClient: HTTPClient, configuration: Configuration) {
        self.httpClient = httpClient
        self.configuration = configuration
    }

    /// Where to send the browser: code flow with PKCE S256 and the broker's callback.
    public func authorizeURL(state: String, codeChallenge: String) -> String {
        let query = URLFormEncoding.encode([
            ("client_id", configuration.clientID),
            ("redirect_uri", configuration.callbackURL),
            ("response_type", "code"),
            ("scope", configuration.scopes.joined(separator: " ")),
            ("state", state),
            ("code_challenge", codeChallenge),
            ("code_challenge_method", "S256"),
        ])
        return "\(configuration.baseURL)/login/oauth/authorize?\(query)"
    }

    public func exchangeCode(_ code: String, codeVerifier: String) async throws(UpstreamError) -> UpstreamTokenResponse {
        try await tokenRequest(
            [
                ("grant_type", "authorization_code"), ("code", code), ("code_verifier", codeVerifier),
                ("redirect_uri", configuration.callbackURL),
            ], grant: .authorizationCode)
    }

    public func refresh(refreshToken: String) async throws(UpstreamError) -> UpstreamTokenResponse {
        try await tokenRequest(
            [("grant_type", "refresh_token"), ("refresh_token", refreshToken)], grant: .refreshToken)
    }

    public func currentUser(accessToken: String) async throws(UpstreamError) -> ForgejoUser {
        try await apiGet("/api/v1/user", accessToken: accessToken, as: ForgejoUser.self)
    }

    /// Forgejo's version string; used by readiness checks, so it sends no token.
    public func version() async throws(UpstreamError) -> String {
        struct Version: Decodable { let version: String }
        return try await apiGet("/api/v1/version", accessToken: nil, as: Version.self).version
    }

    private func tokenRequest(
        _ fields: [(String, String)], grant: UpstreamResponseClassifier.Grant
    ) async throws(UpstreamError) -> UpstreamTokenResponse {
        var request = HTTPClientRequest(url: "\(configuration.baseURL)/login/oauth/access_token")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        let body = URLFormEncoding.encode(
            fields + [("client_id", configuration.clientID), ("client_secret", configuration.clientSecret)])
        request.body = .bytes(ByteBuffer(string: body))
        let (status, data) = try await send(request)
        guard status == 200 else {
            throw UpstreamResponseClassifier.tokenError(status: status, body: data, grant: grant)
        }
        return try UpstreamResponseClassifier.decodeSuccess(UpstreamTokenResponse.self, body: data)
    }

    func apiGet<Value: Decodable>(
        _ path: String, accessToken: String?, as type: Value.Type
    ) async throws(UpstreamError) -> Value {
        var request = HTTPClientRequest(url: configuration.baseURL + path)
        request.headers.add(name: "Accept", value: "application/json")
        if let accessToken { request.headers.add(name: "Authorization", value: "token \(accessToken)") }
        let (status, data) = try await send(request)
        guard status == 200 else { throw UpstreamResponseClassifier.apiError(status: status) }
        return try UpstreamResponseClassifier.decodeSuccess(type, body: data)
    }

    /// Sends with the configured deadline and reads at most `maxResponseBytes`; every transport
    /// failure becomes a transient error. The deadline covers the whole exchange, body included
    /// (``HTTPClient/boundedExchange(_:timeout:maxBytes:inspect:)``): a stalled Forgejo would
    /// otherwise hang every caller joined to a single-flight refresh (session starts and child
    /// swaps of that user).
    private func send(_ request: HTTPClientRequest) async throws(UpstreamError) -> (Int, Data) {
        do {
            let (response, body) = try await httpClient.boundedExchange(
                request, timeout: configuration.requestTimeout, maxBytes: configuration.maxResponseBytes)
            return (Int(response.status.code), Data(body.readableBytesView))
        } catch let error as HTTPClientError
            where [.deadlineExceeded, .connectTimeout, .readTimeout, .getConnectionFromPoolTimeout].contains(error)
        {
            throw .transient(reason: .timeout)
        } catch is NIOTooManyBytesError {
            throw .transient(reason: .responseTooLarge)
        } catch {
            throw .transient(reason: .connectionFailed)
        }
    }
}
