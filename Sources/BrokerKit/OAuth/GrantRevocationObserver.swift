/// Told when the authorization server revokes a grant (`/oauth/revoke`, refresh-token replay,
/// a dead Forgejo grant), so whatever runs on that grant stops now rather than at its next
/// request: the session registry ends the sessions the client holds for the user.
public protocol GrantRevocationObserver: Sendable {
    func grantRevoked(userID: Int64, clientID: String) async
}
