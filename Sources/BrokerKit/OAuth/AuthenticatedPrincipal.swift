import Foundation

/// Who a valid broker access token speaks for. Handed to `/mcp` so sessions can be bound to the
/// user and client, and revoked with their grant.
public struct AuthenticatedPrincipal: Sendable, Equatable {
    public let userID: Int64
    public let login: String
    public let clientID: String
    public let grantID: String
    public let scope: String
    public let expiresAt: Date

    public init(userID: Int64, login: String, clientID: String, grantID: String, scope: String, expiresAt: Date) {
        self.userID = userID
        self.login = login
        self.clientID = clientID
        self.grantID = grantID
        self.scope = scope
        self.expiresAt = expiresAt
    }
}
