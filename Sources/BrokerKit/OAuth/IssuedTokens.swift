import Foundation

/// A freshly minted access token (plus a refresh token unless the client registered without
/// the `refresh_token` grant) and the RFC 6749 §5.1 response for it.
struct IssuedTokens {
    let accessToken: String
    let refreshToken: String?
    let accessRecord: AccessTokenRecord
    let refreshRecord: RefreshTokenRecord?
    let expiresIn: Int
    let scope: String

    init(grant: GrantRecord, clientID: String, scope: String, resource: String, tokens: BrokerConfig.TokenLifetimes, now: Date,
         withRefreshToken: Bool = true) {
        accessToken = OpaqueToken.generate(.accessToken)
        let refreshToken = withRefreshToken ? OpaqueToken.generate(.refreshToken) : nil
        self.refreshToken = refreshToken
        expiresIn = Int(tokens.accessToken.components.seconds)
        self.scope = scope
        accessRecord = AccessTokenRecord(
            tokenHash: TokenHasher.hash(accessToken), grantID: grant.id, clientID: clientID, userID: grant.userID, resource: resource,
            scope: scope, expiresAt: now.addingTimeInterval(TimeInterval(expiresIn)), createdAt: now)
        refreshRecord = refreshToken.map {
            RefreshTokenRecord(
                tokenHash: TokenHasher.hash($0), grantID: grant.id, clientID: clientID,
                expiresAt: now.addingTimeInterval(TimeInterval(tokens.refreshToken.components.seconds)), createdAt: now)
        }
    }

    var responseJSON: [String: Any] {
        var json: [String: Any] = ["access_token": accessToken, "token_type": "Bearer", "expires_in": expiresIn, "scope": scope]
        json["refresh_token"] = refreshToken
        return json
    }

    var responseData: Data {
        (try? JSONSerialization.data(withJSONObject: responseJSON, options: [.sortedKeys])) ?? Data()
    }
}
