import Foundation

/// Turns a Forgejo HTTP answer into a decoded value or an `UpstreamError`, so the mapping from
/// Forgejo's error table (forgejo-notes A5, D4) lives in one place.
enum UpstreamResponseClassifier {
    /// Which grant a token request used; the same OAuth error means different things for each.
    enum Grant: Sendable {
        case authorizationCode
        case refreshToken
    }

    /// Forgejo's OAuth error body.
    private struct OAuthErrorBody: Decodable {
        let error: String
        let errorDescription: String?

        enum CodingKeys: String, CodingKey {
            case error
            case errorDescription = "error_description"
        }
    }

    static func decodeSuccess<Value: Decodable>(_ type: Value.Type, body: Data) throws(UpstreamError) -> Value {
        guard (try? JSONSerialization.jsonObject(with: body)) != nil else {
            throw .transient(reason: .nonJSONResponse)
        }
        do {
            return try JSONDecoder().decode(Value.self, from: body)
        } catch {
            throw .transient(reason: .malformedResponse)
        }
    }

    /// Statuses that mean the same on every endpoint; nil when the caller must look closer.
    static func classifyStatus(_ status: Int) -> UpstreamError? {
        switch status {
        case 200..<300: nil
        case 429: .transient(reason: .rateLimited)
        case 500...: .transient(reason: .serverError(status: status))
        default: nil
        }
    }

    static func tokenError(status: Int, body: Data, grant: Grant) -> UpstreamError {
        if let common = classifyStatus(status) { return common }
        guard status == 400 || status == 401 else { return .misconfigured(reason: .unexpectedStatus(status)) }
        guard let error = try? JSONDecoder().decode(OAuthErrorBody.self, from: body) else {
            return .transient(reason: .nonJSONResponse)
        }
        return classify(oauthError: error.error, description: error.errorDescription ?? "", grant: grant)
    }

    static func classify(oauthError: String, description: String, grant: Grant) -> UpstreamError {
        switch (oauthError, description) {
        case ("invalid_client", "invalid client secret"), ("invalid_client", "invalid empty client secret"),
            ("unauthorized_client", "invalid client secret"), ("unauthorized_client", "invalid empty client secret"):
            return .misconfigured(reason: .invalidClientSecret)
        case ("invalid_client", _):
            return .misconfigured(reason: .unknownClient)
        case ("unauthorized_client", "unexpected redirect URI"):
            return .misconfigured(reason: .redirectURIRejected)
        case ("unauthorized_client", "token was already used"):
            return .refreshTokenAlreadyUsed
        case ("unauthorized_client", "failed PKCE code challenge"):
            return .loginRequired(reason: .pkceFailed)
        case ("unauthorized_client", _), ("invalid_grant", _):
            switch (oauthError, grant) {
            case ("invalid_grant", .refreshToken): return .loginRequired(reason: .grantRevoked)
            case (_, .refreshToken): return .loginRequired(reason: .refreshTokenInvalid)
            case (_, .authorizationCode): return .loginRequired(reason: .codeRejected)
            }
        default:
            return .misconfigured(reason: .requestRejected)
        }
    }

    static func apiError(status: Int) -> UpstreamError {
        if let common = classifyStatus(status) { return common }
        return status == 401 ? .loginRequired(reason: .accessTokenRejected) : .misconfigured(reason: .unexpectedStatus(status))
    }
}
