import Hummingbird

/// `POST /oauth/revoke` (RFC 7009). Revoking either token revokes its whole grant, because a
/// client that revokes one token is logging out. Unknown tokens, and tokens of other clients,
/// get the same 200 so the endpoint cannot be used to probe for valid tokens.
extension AuthorizationServer {
    func revoke(_ request: Request, context: BrokerRequestContext) async throws -> Response {
        try await clientAuthenticatedEndpoint("revoke", request, context: context) { parameters, client in
            guard let token = try parameters.value("token", maxLength: 512) else {
                throw OAuthError.invalidRequest("token_missing", "token is required")
            }
            _ = try parameters.value("token_type_hint")
            let hash = TokenHasher.hash(token)
            var grantID: String?
            if let access = try await store.activeAccessToken(hash: hash), access.clientID == client.clientID {
                grantID = access.grantID
            } else if let refresh = try await store.activeRefreshToken(hash: hash), refresh.clientID == client.clientID {
                grantID = refresh.grantID
            }
            if let grantID { try await revokeGrant(grantID) }
            OAuthTelemetry.step(context.logger, "revoke", clientID: client.clientID, reason: grantID == nil ? "token_unknown" : "grant_revoked")
            return Response(status: .ok, headers: [.cacheControl: "no-store"])
        }
    }
}
