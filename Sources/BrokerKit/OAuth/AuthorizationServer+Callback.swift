import Foundation
import Hummingbird

/// `GET /oauth/callback`: Forgejo sends the browser back here. The state must match a pending
/// request of THIS browser; then the Forgejo code is exchanged, the user and their single
/// Forgejo token set are stored, and the client gets a broker code.
extension AuthorizationServer {
    func callback(_ request: Request, context: BrokerRequestContext) async -> Response {
        let parameters = OAuthParameters(encoded: request.uri.query ?? "")
        var clientID: String?
        do {
            try await limitBrowser("callback", context: context)
            if let state = try? parameters.value("state", maxLength: 256), AccountSignIn.isAccountState(state) {
                return await accountCallback(parameters, state: state, request: request, context: context)
            }
            let pending = try await pendingForCallback(parameters, request: request)
            clientID = pending.clientID
            if let upstreamError = try? parameters.value("error", maxLength: 256) {
                let denied = upstreamError == "access_denied"
                let error = denied
                    ? OAuthError(.accessDenied, reason: "upstream_denied", "the user denied access at Forgejo")
                    : OAuthError(.serverError, reason: "upstream_error", "Forgejo refused the authorization")
                throw AuthorizeFailure.redirect(redirectURI: pending.redirectURI, state: pending.clientState, error: error)
            }
            guard let code = try? parameters.value("code", maxLength: 1_024) else {
                throw AuthorizeFailure.page("upstream_code_missing", "Forgejo did not return an authorization code.")
            }
            let user: UserRecord
            do { user = try await completeUpstreamLogin(code: code, pending: pending) } catch let refusal as SignInRefusal {
                return await signInRefused(refusal, pending: pending, context: context)
            }
            let brokerCode = try await issueCode(for: pending, userID: user.id)
            OAuthTelemetry.step(context.logger, "callback", clientID: pending.clientID, login: user.login)
            options.audit?.record(AuditRecord(event: .login, user: user.login, client: pending.clientID, outcome: "ok"))
            return clientRedirect(pending.redirectURI, [("code", brokerCode), ("state", pending.clientState), ("iss", config.issuer)])
        } catch let failure as AuthorizeFailure {
            return render(failure, endpoint: "callback", clientID: clientID, context: context)
        } catch {
            return render(.page(status: .serverError, reason: "store_error", message: "The login could not be completed."),
                          endpoint: "callback", clientID: clientID, context: context)
        }
    }

    /// Exact state match via its hash, the browser binding cookie, expiry, and single use.
    private func pendingForCallback(_ parameters: OAuthParameters, request: Request) async throws -> PendingAuthorizationRecord {
        let state: String?
        do { state = try parameters.value("state", maxLength: 256) } catch {
            throw AuthorizeFailure.page(error.reason, "The response from Forgejo is malformed.")
        }
        guard let state else { throw AuthorizeFailure.page("state_missing", "The response from Forgejo has no state.") }
        guard let pending = try await store.pendingAuthorization(upstreamStateHash: TokenHasher.hash(state)) else {
            throw AuthorizeFailure.page("state_unknown", "This login is unknown or was already completed. Start again from the application.")
        }
        guard let binding = cookies.bindingValue(in: request),
              ConstantTime.equals(TokenHasher.hash(binding), pending.browserBindingHash) else {
            throw AuthorizeFailure.page(status: .forbidden, reason: "browser_mismatch",
                                        message: "This login was started in another browser. Start again from the application.")
        }
        guard pending.expiresAt > clock.now() else {
            throw AuthorizeFailure.page("request_expired", "This login took too long. Start again from the application.")
        }
        guard let taken = try await store.takePendingAuthorization(id: pending.id) else {
            throw AuthorizeFailure.page("state_used", "This login was already completed.")
        }
        return taken
    }

    private func completeUpstreamLogin(code: String, pending: PendingAuthorizationRecord) async throws -> UserRecord {
        guard let sealed = pending.upstreamVerifierSealed,
              let verifier = try? verifierBox.openString(sealed, context: "pending:" + pending.id) else {
            throw AuthorizeFailure.page(status: .serverError, reason: "verifier_unreadable", message: "The login could not be completed.")
        }
        return try await completeUpstreamLogin(code: code, verifier: verifier)
    }

    /// Exchanges the Forgejo code, stores the user and their new token set, and applies the
    /// sign-in policy. A user seen before must keep the new set, and at once: Forgejo bumps the
    /// grant's counter on each code exchange, which retires the refresh token stored before, so
    /// until the new set is stored a refresh of the user fails (the token manager re-reads the
    /// store before it gives a user up, and finds this set). So for them the policy is applied
    /// after the store write; the set stays when the policy could not be checked (they keep
    /// their other clients; the check runs again at the next refresh) and goes with a refusal,
    /// which also ends their grants. A new user has nothing to lose and is stored only once admitted.
    ///
    /// The user's running children keep their access token, which Forgejo still honours; they
    /// move to the new set at its scheduled refresh, or at once when one of their calls fails
    /// and the new set proves good (`UpstreamTokenManager.verify`), as after a grant re-created
    /// at Forgejo. A look at the account page costs them nothing.
    func completeUpstreamLogin(code: String, verifier: String) async throws -> UserRecord {
        let set: UpstreamTokenSet
        let forgejoUser: ForgejoUser
        do {
            let tokens = try await forgejo.exchangeCode(code, codeVerifier: verifier)
            // The exchange's answer orders this login against another of the same user.
            let exchangedAt = clock.now()
            set = UpstreamTokenSet(accessToken: tokens.accessToken, refreshToken: tokens.refreshToken,
                                   accessExpiresAt: tokens.expiresIn.map { exchangedAt.addingTimeInterval(TimeInterval($0)) },
                                   loginExchangedAt: exchangedAt)
            forgejoUser = try await forgejo.currentUser(accessToken: tokens.accessToken)
        } catch {
            throw AuthorizeFailure.page(status: .badGateway, reason: error.reasonCode,
                                        message: "Signing in with Forgejo failed (\(error.reasonCode)). Try again later.")
        }
        let existing = try await store.user(id: forgejoUser.id)
        guard existing != nil else {
            try await admitSignIn(forgejoUser, accessToken: set.accessToken)
            return try await storeLogin(forgejoUser, set: set, existing: nil).user
        }
        let (user, stored) = try await storeLogin(forgejoUser, set: set, existing: existing)
        do {
            try await admitSignIn(forgejoUser, accessToken: set.accessToken)
        } catch let refusal as SignInRefusal {
            if case .unavailable = refusal.decision { throw refusal }
            // This login's set (or a refresh of it since); a later login's, which superseded this
            // one, is judged by its own callback.
            if case .stored = stored { try await store.deleteUpstreamTokens(userID: user.id) }
            throw refusal
        }
        return user
    }

    /// Writes the user and their new token set (unless a later login of theirs stored its own).
    private func storeLogin(
        _ forgejoUser: ForgejoUser, set: UpstreamTokenSet, existing: UserRecord?
    ) async throws -> (user: UserRecord, stored: UpstreamLoginWriter.Outcome) {
        let now = clock.now()
        let user = UserRecord(id: forgejoUser.id, login: forgejoUser.login, fullName: forgejoUser.fullName, email: forgejoUser.email,
                              avatarURL: forgejoUser.avatarURL, isAdmin: forgejoUser.isAdmin, createdAt: existing?.createdAt ?? now, updatedAt: now)
        try await store.upsertUser(user)
        return (user, try await loginWriter.store(set, userID: user.id, now: now))
    }

    private func issueCode(for pending: PendingAuthorizationRecord, userID: Int64) async throws -> String {
        let now = clock.now()
        let grant = try await store.upsertGrant(userID: userID, clientID: pending.clientID, scope: pending.scope,
                                                resource: pending.resource, newID: OpaqueToken.generate(.opaque, bytes: 16), now: now)
        let code = OpaqueToken.generate(.authorizationCode)
        try await store.insertAuthorizationCode(AuthorizationCodeRecord(
            codeHash: TokenHasher.hash(code), grantID: grant.id, clientID: pending.clientID, redirectURI: pending.redirectURI,
            codeChallenge: pending.codeChallenge, resource: pending.resource, scope: pending.scope,
            expiresAt: now.addingTimeInterval(options.codeLifetime)))
        return code
    }
}
