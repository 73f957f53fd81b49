/// `POST /login/oauth/access_token` (forgejo-notes A5–A7), including the check order that
/// decides which error row a bad request hits.
extension FakeForgejoState {
    func token(_ request: TokenRequest) -> Result<TokenResponse, TokenEndpointError> {
        let result: Result<TokenResponse, TokenEndpointError>
        switch request.grantType {
        case "authorization_code":
            result = Result { () throws(TokenEndpointError) in try exchangeCode(request) }
        case "refresh_token":
            result = Result { () throws(TokenEndpointError) in try refresh(request) }
        default:
            result = .failure(
                TokenEndpointError(
                    "unsupported_grant_type", "Only refresh_token or authorization_code grant type is supported"))
        }
        recordTokenRequest(grantType: request.grantType, result: result)
        return result
    }

    /// Counts a request rejected before the grant type was looked at (bad Basic header).
    func recordTokenRequest(grantType: String, result: Result<TokenResponse, TokenEndpointError>) {
        let outcome: String
        switch result {
        case .success: outcome = "ok"
        case .failure(let error): outcome = error.error
        }
        statistics.tokenRequests["\(grantType.isEmpty ? "none" : grantType):\(outcome)", default: 0] += 1
    }

    private func exchangeCode(_ request: TokenRequest) throws(TokenEndpointError) -> TokenResponse {
        guard let app = app(clientID: request.clientID) else {
            throw TokenEndpointError("invalid_client", "cannot load client with client id: '\(request.clientID)'")
        }
        if app.confidential {
            try checkSecret(request.clientSecret, of: app, error: "unauthorized_client")
        }
        if !request.redirectURI.isEmpty && !app.containsRedirectURI(request.redirectURI) {
            throw TokenEndpointError("unauthorized_client", "unexpected redirect URI")
        }
        guard let code = codes[request.code], let grant = grants[code.grantID] else {
            throw TokenEndpointError("unauthorized_client", "client is not authorized")
        }
        guard code.validate(verifier: request.codeVerifier) else {
            throw TokenEndpointError("unauthorized_client", "failed PKCE code challenge")
        }
        // Forgejo consumes the code before noticing it belongs to another app.
        codes[request.code] = nil
        guard grant.appID == app.id else { throw TokenEndpointError("invalid_grant", "invalid grant") }
        return issueTokens(grantID: grant.id)
    }

    private func refresh(_ request: TokenRequest) throws(TokenEndpointError) -> TokenResponse {
        guard let app = app(clientID: request.clientID) else {
            throw TokenEndpointError("invalid_client", "cannot load client with client id: \"\(request.clientID)\"")
        }
        if app.confidential {
            try checkSecret(request.clientSecret, of: app, error: "invalid_client")
        }
        guard let claims = signer.parse(request.refreshToken), claims.tt == .refresh, claims.exp > now(),
            !expiredTokens.contains(request.refreshToken)
        else { throw TokenEndpointError("unauthorized_client", "unable to parse refresh token") }
        guard let grant = grants[claims.gnt] else { throw TokenEndpointError("invalid_grant", "grant does not exist") }
        if invalidateRefreshTokens && claims.cnt != grant.counter {
            throw TokenEndpointError("unauthorized_client", "token was already used")
        }
        let response = issueTokens(grantID: grant.id)
        statistics.refreshes += 1
        if let login = users[grant.userID]?.login {
            statistics.refreshesByUser[login, default: 0] += 1
        }
        return response
    }

    private func checkSecret(_ secret: String, of app: FakeOAuthApp, error: String) throws(TokenEndpointError) {
        guard !secret.isEmpty else { throw TokenEndpointError(error, "invalid empty client secret") }
        guard constantTimeEquals(secret, app.clientSecret) else {
            throw TokenEndpointError(error, "invalid client secret")
        }
    }

    /// Every issuance bumps the grant counter first when rotation is on (A7).
    private func issueTokens(grantID: Int) -> TokenResponse {
        if invalidateRefreshTokens { grants[grantID]?.counter += 1 }
        let grant = grants[grantID]
        let issuedAt = now()
        let access = signer.sign(
            FakeTokenClaims(gnt: grantID, tt: .access, cnt: nil, exp: issuedAt + accessTokenLifetime, iat: issuedAt))
        let refresh = signer.sign(
            FakeTokenClaims(
                gnt: grantID, tt: .refresh, cnt: grant?.counter,
                exp: issuedAt + refreshTokenLifetimeHours * 3600, iat: issuedAt))
        issuedTokens[grantID, default: []].append(contentsOf: [(access, .access), (refresh, .refresh)])
        let wantsIDToken = grant?.scope.split(separator: " ").contains("openid") ?? false
        return TokenResponse(
            accessToken: access, expiresIn: accessTokenLifetime, refreshToken: refresh,
            idToken: wantsIDToken ? idToken(grant: grant, issuedAt: issuedAt) : nil)
    }

    /// Minimal OIDC id_token; the broker does not rely on it, but its presence follows the scope.
    private func idToken(grant: FakeGrant?, issuedAt: Int) -> String? {
        guard let grant, let app = apps[grant.appID] else { return nil }
        return signer.sign(
            FakeIDTokenClaims(
                iss: String(rootURL.dropLast()), aud: [app.clientID], sub: String(grant.userID),
                exp: issuedAt + accessTokenLifetime, iat: issuedAt, nonce: grant.nonce.isEmpty ? nil : grant.nonce))
    }
}
