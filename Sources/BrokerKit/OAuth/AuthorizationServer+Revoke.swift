import Hummingbird

/// `POST /oauth/revoke` (RFC 7009). Revoking either token revokes its whole grant, because a
/// client that revokes one token is logging out. Unknown tokens, and tokens of other clients,
/// get the same 200 so the endpoint cannot be used to probe for valid tokens.
extension AuthorizationServer {
    func revoke(_ request: Request, context: BrokerRequestContext) async throws -> Response {
        var clientID: String?
        do {
            guard await tokenLimiter.allow(context.clientAddress) else {
                throw OAuthError(.rateLimited, reason: "rate_limited", "too many requests from this address")
            }
            let parameters = try await formParameters(request, context: context)
            let client = try await authenticateClient(request, parameters: parameters)
            clientID = client.clientID
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
        } catch let error as OAuthError {
            OAuthTelemetry.failure(context.logger, endpoint: "revoke", clientID: clientID, reason: error.reason)
            throw error
        } catch let problem as OAuthParameters.Problem {
            OAuthTelemetry.failure(context.logger, endpoint: "revoke", clientID: clientID, reason: problem.reason)
            throw problem.oauthError
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            OAuthTelemetry.failure(context.logger, endpoint: "revoke", clientID: clientID, reason: "store_error")
            throw OAuthError(.serverError, reason: "store_error", "the request could not be processed")
        }
    }
}
