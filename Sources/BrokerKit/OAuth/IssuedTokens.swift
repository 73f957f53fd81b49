import Foundation

/// A freshly minted access + refresh token pair and the RFC 6749 §5.1 response for it.
struct IssuedTokens {
    let accessToken: String
    let refreshToken: String
    let accessRecord: AccessTokenRecord
    let refreshRecord: RefreshTokenRecord
    let expiresIn: Int
    let scope: String

    init(grant: GrantRecord, clientID: String, scope: String, resource: String, tokens: BrokerConfig.TokenLifetimes, now: Date) {
        accessToken = OpaqueToken.generate(.accessToken)
        refreshToken = OpaqueToken.generate(.refreshToken)
        expiresIn = Int(tokens.accessToken.components.seconds)
        self.scope = scope
        accessRecord = AccessTokenRecord(
            tokenHash: TokenHasher.hash(accessToken), grantID: grant.id, clientID: clientID, userID: grant.userID, resource: resource,
            scope: scope, expiresAt: now.addingTimeInterval(TimeInterval(expiresIn)), createdAt: now)
        refreshRecord = RefreshTokenRecord(
            tokenHash: TokenHasher.hash(refreshToken), grantID: grant.id, clientID: clientID,
            expiresAt: now.addingTimeInterval(TimeInterval(tokens.refreshToken.components.seconds)), createdAt: now)
    }

    var responseJSON: [String: Any] {
        ["access_token": accessToken, "token_type": "Bearer", "expires_in": expiresIn, "refresh_token": refreshToken, "scope": scope]
    }

    var responseData: Data {
        (try? JSONSerialization.data(withJSONObject: responseJSON, options: [.sortedKeys])) ?? Data()
    }
}
