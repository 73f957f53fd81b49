/// The browser side of the OAuth flow: login, authorize, consent (forgejo-notes A2).
extension FakeForgejoState {
    /// Checks credentials and binds the user to a (possibly new) web session; returns the session id.
    func logIn(userName: String, password: String, sessionID: String?) -> String? {
        guard let user = user(login: userName), constantTimeEquals(user.password, password) else { return nil }
        let id = sessionID.flatMap { sessions[$0] == nil ? nil : $0 } ?? FakeRandom.opaque()
        var session = sessions[id] ?? FakeWebSession(userID: nil, csrfToken: FakeRandom.opaque())
        session.userID = user.id
        sessions[id] = session
        return id
    }

    func authorize(_ fields: FormFields, sessionID: String?) -> AuthorizeOutcome {
        let autoApproved = autoApproveUser.flatMap { user(login: $0) }
        let sessionUser = sessionID.flatMap { sessions[$0]?.userID }.flatMap { users[$0] }
        guard let user = autoApproved ?? sessionUser else { return .loginRequired }

        guard let app = app(clientID: fields["client_id"]) else { return .errorPage("Client ID not registered") }
        let redirectURI = fields["redirect_uri"]
        guard app.containsRedirectURI(redirectURI) else { return .errorPage("Unregistered Redirect URI") }
        let state = fields["state"]
        func fail(_ error: String, _ description: String) -> AuthorizeOutcome {
            .redirect(RedirectURL.error(redirectURI, error: error, description: description, state: state))
        }
        guard fields["response_type"] == "code" else {
            return fail("unsupported_response_type", "Only code response type is supported.")
        }
        let method = fields["code_challenge_method"]
        switch method {
        case "S256", "plain":
            break
        case "" where app.confidential:
            break
        case "":
            return fail("invalid_request", "PKCE is required for public clients")
        default:
            return fail("invalid_request", "unsupported code challenge method")
        }
        let request = PendingAuthorization(
            clientID: app.clientID, state: state, redirectURI: redirectURI, scope: fields["scope"],
            nonce: fields["nonce"], codeChallenge: fields["code_challenge"], codeChallengeMethod: method)

        if autoApproved != nil {
            return consent(user: user, app: app, request: request)
        }
        if app.confidential, var grant = grant(userID: user.id, appID: app.id) {
            grant.nonce = request.nonce
            grants[grant.id] = grant
            return .redirect(issueCode(grant: grant, request: request))
        }
        guard let sessionID, var session = sessions[sessionID] else { return .loginRequired }
        session.pendingAuthorization = request
        sessions[sessionID] = session
        return .consent(ConsentPage(appName: app.name, csrfToken: session.csrfToken, request: request))
    }

    /// `POST /login/oauth/grant`: the posted form must match what the consent page was shown for.
    func submitConsent(_ fields: FormFields, sessionID: String?) -> AuthorizeOutcome {
        guard let sessionID, let session = sessions[sessionID],
            let userID = session.userID, let user = users[userID]
        else { return .loginRequired }
        guard constantTimeEquals(fields["_csrf"], session.csrfToken),
            let request = session.pendingAuthorization,
            fields["client_id"] == request.clientID,
            fields["state"] == request.state,
            fields["redirect_uri"] == request.redirectURI,
            let app = app(clientID: request.clientID)
        else { return .badRequest }
        sessions[sessionID]?.pendingAuthorization = nil
        guard fields["granted"] == "true" else {
            return .redirect(
                RedirectURL.error(
                    request.redirectURI, error: "access_denied", description: "the request is denied",
                    state: request.state))
        }
        let posted = PendingAuthorization(
            clientID: request.clientID, state: request.state, redirectURI: request.redirectURI,
            scope: fields["scope"], nonce: fields["nonce"], codeChallenge: request.codeChallenge,
            codeChallengeMethod: request.codeChallengeMethod)
        return consent(user: user, app: app, request: posted)
    }

    /// Creates the grant on first consent; Forgejo refuses a second consent with another scope.
    private func consent(user: FakeUser, app: FakeOAuthApp, request: PendingAuthorization) -> AuthorizeOutcome {
        let grant: FakeGrant
        if var existing = self.grant(userID: user.id, appID: app.id) {
            guard existing.scope == request.scope else {
                return .redirect(
                    RedirectURL.error(
                        request.redirectURI, error: "server_error",
                        description: "a grant exists with different scope", state: request.state))
            }
            existing.nonce = request.nonce
            grants[existing.id] = existing
            grant = existing
        } else {
            grant = FakeGrant(
                id: allocateID(), userID: user.id, appID: app.id, scope: request.scope, counter: 1,
                nonce: request.nonce)
            grants[grant.id] = grant
        }
        return .redirect(issueCode(grant: grant, request: request))
    }

    private func issueCode(grant: FakeGrant, request: PendingAuthorization) -> String {
        let code = FakeRandom.authorizationCode()
        codes[code] = FakeAuthorizationCode(
            grantID: grant.id, redirectURI: request.redirectURI, codeChallenge: request.codeChallenge,
            codeChallengeMethod: request.codeChallengeMethod)
        return RedirectURL.code(request.redirectURI, code: code, state: request.state)
    }
}
