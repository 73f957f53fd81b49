import Foundation
import HTTPTypes
import Hummingbird

/// `/account`: the signed-in user's connected applications (their live grants) and a Disconnect
/// button per application, which revokes the grant exactly as RFC 7009 revocation does — its
/// tokens, sessions, listen streams and calls end, and a per-user child ends with the user's last
/// live grant. Sign-in goes through Forgejo (see ``AccountSignIn``).
extension AuthorizationServer {
    func addAccountRoutes(to router: Router<BrokerRequestContext>) {
        router.get("/account") { request, context in await self.accountPage(request, context: context) }
        router.post("/account/revoke") { request, context in await self.accountRevoke(request, context: context) }
        router.post("/account/sign-out") { request, context in await self.accountSignOut(request, context: context) }
    }

    private func accountPage(_ request: Request, context: BrokerRequestContext) async -> Response {
        await accountEndpoint("account", context: context) {
            try await limitBrowser("account", context: context)
            guard let (session, user) = try await accountUser(request) else {
                return startAccountSignIn(context: context)
            }
            let revokedGrant = try? OAuthParameters(encoded: request.uri.query ?? "").value("revoked", maxLength: 64)
            return OAuthPages.response(OAuthPages.account(try await accountListing(user, session: session, revokedGrant: revokedGrant)))
        }
    }

    private func accountRevoke(_ request: Request, context: BrokerRequestContext) async -> Response {
        await accountEndpoint("account_revoke", context: context) {
            try await limitBrowser("account", context: context)
            let (user, parameters) = try await accountForm(request, context: context)
            guard let grantID = try? parameters.value("grant", maxLength: 64), let grant = try await store.grant(id: grantID),
                  grant.userID == user.id else {
                throw AuthorizeFailure.page("grant_unknown", "This application is not connected to your account.")
            }
            if grant.revokedAt == nil { try await revokeGrant(grant.id) }
            OAuthTelemetry.step(context.logger, "account_revoke", clientID: grant.clientID, login: user.login)
            return Response(status: .seeOther, headers: [.location: "/account?revoked=" + grant.id, .cacheControl: "no-store"])
        }
    }

    private func accountSignOut(_ request: Request, context: BrokerRequestContext) async -> Response {
        await accountEndpoint("account_sign_out", context: context) {
            _ = try await accountForm(request, context: context)
            var response = OAuthPages.response(OAuthPages.error(
                title: "Signed out", message: "You are signed out of the connected applications page. Your applications stay connected.",
                reason: "signed_out", requestID: context.requestID))
            response.headers.append(HTTPField(name: .setCookie, value: cookies.setCookie(name: cookies.account, value: "", maxAge: 0)))
            return response
        }
    }

    /// The Forgejo leg of an account sign-in, from `/oauth/callback` (told apart by its state).
    func accountCallback(_ parameters: OAuthParameters, state: String, request: Request, context: BrokerRequestContext) async -> Response {
        await accountEndpoint("account_callback", context: context) {
            let verifier: String
            do throws(AccountSignIn.LoginProblem) {
                verifier = try account.verifier(cookie: request.cookies[cookies.accountLogin]?.value, state: state, now: clock.now())
            } catch {
                throw AuthorizeFailure.page(status: .forbidden, reason: error.reason,
                                            message: "This sign-in was started in another browser or took too long. Open the connected applications page again.")
            }
            if (try? parameters.value("error", maxLength: 256)) != nil {
                throw AuthorizeFailure.page("upstream_denied", "Forgejo did not sign you in. Open the connected applications page again.")
            }
            guard let code = try? parameters.value("code", maxLength: 1_024) else {
                throw AuthorizeFailure.page("upstream_code_missing", "Forgejo did not return an authorization code.")
            }
            let user = try await completeUpstreamLogin(code: code, verifier: verifier)
            OAuthTelemetry.step(context.logger, "account_callback", clientID: nil, login: user.login)
            options.audit?.record(AuditRecord(event: .login, user: user.login, client: nil, outcome: "ok", detail: "account_page"))
            var response = Response(status: .seeOther, headers: [.location: "/account", .cacheControl: "no-store"])
            response.headers.append(HTTPField(name: .setCookie, value: cookies.setCookie(
                name: cookies.account, value: account.session(userID: user.id, now: clock.now()), maxAge: Int(AccountSignIn.sessionLifetime))))
            response.headers.append(HTTPField(name: .setCookie, value: cookies.setCookie(name: cookies.accountLogin, value: "", maxAge: 0)))
            return response
        }
    }

    private func startAccountSignIn(context: BrokerRequestContext) -> Response {
        let login = account.beginLogin(now: clock.now())
        OAuthTelemetry.step(context.logger, "account_sign_in", clientID: nil)
        let location = forgejo.authorizeURL(state: login.state, codeChallenge: TokenHasher.pkceChallenge(verifier: login.verifier))
        var response = Response(status: .found, headers: [.location: location, .cacheControl: "no-store"])
        response.headers.append(HTTPField(name: .setCookie, value: cookies.setCookie(
            name: cookies.accountLogin, value: login.cookie, maxAge: Int(AccountSignIn.loginLifetime))))
        return response
    }

    /// The signed-in user and their session cookie, or nil when the browser must sign in.
    private func accountUser(_ request: Request) async throws -> (session: String, user: UserRecord)? {
        guard let session = request.cookies[cookies.account]?.value,
              let userID = account.userID(session: session, now: clock.now()),
              let user = try await store.user(id: userID) else { return nil }
        return (session, user)
    }

    /// A form posted from the page: a live session and the session's CSRF token, or a 403 page.
    private func accountForm(_ request: Request, context: BrokerRequestContext) async throws -> (UserRecord, OAuthParameters) {
        let parameters: OAuthParameters
        do { parameters = try await formParameters(request, context: context) } catch {
            throw AuthorizeFailure.page("account_not_form", "The form was not submitted correctly.")
        }
        guard let (session, user) = try await accountUser(request) else {
            throw AuthorizeFailure.page(status: .forbidden, reason: "account_signed_out",
                                        message: "Your sign-in to this page has ended. Open the connected applications page again.")
        }
        guard account.isValidCSRF(try? parameters.value("csrf", maxLength: 128), session: session) else {
            throw AuthorizeFailure.page(status: .forbidden, reason: "csrf_mismatch", message: "The form could not be verified.")
        }
        return (user, parameters)
    }

    private func accountListing(_ user: UserRecord, session: String, revokedGrant: String?) async throws -> OAuthPages.Account {
        var apps: [OAuthPages.ConnectedApp] = []
        for grant in try await store.activeGrants(userID: user.id) {
            let client = try await clients.known(grant.clientID)
            apps.append(OAuthPages.ConnectedApp(
                grantID: grant.id, clientName: client?.name ?? grant.clientID, clientID: grant.clientID,
                redirectHosts: Self.redirectHosts(client?.redirectURIs ?? []), firstUse: grant.createdAt, lastUse: grant.lastUsedAt))
        }
        apps.sort { $0.lastUse > $1.lastUse }
        var revokedName: String?
        if let revokedGrant, let grant = try await store.grant(id: revokedGrant), grant.userID == user.id, grant.revokedAt != nil {
            revokedName = try await clients.known(grant.clientID)?.name ?? grant.clientID
        }
        return OAuthPages.Account(login: user.login, apps: apps, csrf: account.csrfToken(session: session), revokedName: revokedName)
    }

    /// Where an application receives its results: the hosts of http(s) redirect URIs and the
    /// scheme of a native app's private-use one, each once.
    static func redirectHosts(_ uris: [String]) -> [String] {
        var hosts: [String] = []
        for uri in uris {
            let host = ClientHostAllowlist.describe(uri)
            if host != "?", !host.isEmpty, !hosts.contains(host) { hosts.append(host) }
        }
        return hosts
    }

    /// Runs an account endpoint: failures become the error page (a store failure a 500 page).
    private func accountEndpoint(_ endpoint: String, context: BrokerRequestContext,
                                 _ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let failure as AuthorizeFailure {
            return render(failure, endpoint: endpoint, clientID: nil, context: context, status: .seeOther)
        } catch let refusal as SignInRefusal {
            return await accountSignInRefused(refusal, context: context)
        } catch {
            return render(.page(status: .serverError, reason: "store_error", message: "The page could not be loaded."),
                          endpoint: endpoint, clientID: nil, context: context)
        }
    }
}
