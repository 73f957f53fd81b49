import Foundation
import Hummingbird
import Logging

/// A login the sign-in policy turned away, thrown after the Forgejo code exchange: nothing of a
/// new user is stored; a returning user's new token set is forgotten again, unless the policy
/// could not be checked (see `completeUpstreamLogin(code:verifier:)`).
struct SignInRefusal: Error {
    let login: String
    let userID: Int64
    let decision: SignInCheck.Decision
}

/// The sign-in policy at login (`FJMCP_ALLOWED_USERS`, `FJMCP_ALLOWED_ORGS`).
extension AuthorizationServer {
    var signInCheck: SignInCheck? {
        config.access.signIn.isOpen ? nil : SignInCheck(policy: config.access.signIn, forgejo: forgejo)
    }

    /// Throws ``SignInRefusal`` unless the policy admits the user. Forgejo being unreachable
    /// refuses too (nobody is admitted unchecked), but with its own wording.
    func admitSignIn(_ user: ForgejoUser, accessToken: String) async throws {
        guard let signInCheck else { return }
        let decision = await signInCheck.decide(login: user.login, accessToken: accessToken)
        guard decision == .admitted else { throw SignInRefusal(login: user.login, userID: user.id, decision: decision) }
    }

    /// The refused user's page after a client's sign-in: who to ask, and a link that hands the
    /// client `access_denied` at its redirect URI.
    func signInRefused(_ refusal: SignInRefusal, pending: PendingAuthorizationRecord, context: BrokerRequestContext) async -> Response {
        let error = if case .unavailable = refusal.decision {
            OAuthError(.temporarilyUnavailable, reason: refusal.reason, "Forgejo could not be asked whether the user may sign in")
        } else {
            OAuthError(.accessDenied, reason: refusal.reason, "the user may not sign in to this server")
        }
        let back = errorRedirect(pending.redirectURI, state: pending.clientState, error: error).headers[.location] ?? pending.redirectURI
        options.audit?.record(AuditRecord(event: .login, user: refusal.login, client: pending.clientID, outcome: "refused", detail: refusal.reason))
        return await refusalPage(refusal, returnURL: back, endpoint: "callback", clientID: pending.clientID, context: context)
    }

    /// The same page after a sign-in to the account page, which has no application to return to.
    func accountSignInRefused(_ refusal: SignInRefusal, context: BrokerRequestContext) async -> Response {
        await refusalPage(refusal, returnURL: nil, endpoint: "account_callback", clientID: nil, context: context)
    }

    /// Logs the refusal, revokes what a user the policy no longer admits still holds, and says
    /// why in words the user can act on.
    private func refusalPage(_ refusal: SignInRefusal, returnURL: String?, endpoint: String, clientID: String?,
                             context: BrokerRequestContext) async -> Response {
        SignInCheck.log(refusal.decision, logger: context.logger, userID: refusal.userID, login: refusal.login, when: "login")
        OAuthTelemetry.failure(context.logger, endpoint: endpoint, clientID: clientID, reason: refusal.reason)
        switch refusal.decision {
        case .refused, .missingScope: await revokeAll(userID: refusal.userID, logger: context.logger)
        case .admitted, .unavailable: break
        }
        let ask = config.access.contact.map { "Ask \($0) for access." } ?? "Ask the administrator of this server for access."
        let (status, title, message): (HTTPResponse.Status, String, String) = switch refusal.decision {
        case .unavailable:
            (.badGateway, "Sign-in could not be checked",
             "Forgejo could not be asked whether your account \(refusal.login) may use this server. Try again later.")
        case .missingScope(let scope):
            (.forbidden, "Sign-in could not be checked",
             "This server may not read your Forgejo memberships (its Forgejo application lacks the scope \(scope)), so it cannot admit your account \(refusal.login). \(ask)")
        case .admitted, .refused:
            (.forbidden, "Access not allowed",
             "Your Forgejo account \(refusal.login) is not among the users and organisations allowed to use this server. \(ask)")
        }
        let html = OAuthPages.refusal(title: title, message: message, returnURL: returnURL, requestID: context.requestID)
        return OAuthPages.response(html, status: status)
    }

    /// Ends every grant of the user: their sessions and children end through the revocation observer.
    func revokeAll(userID: Int64, logger: Logger) async {
        do {
            for grant in try await store.activeGrants(userID: userID) { try await revokeGrant(grant.id) }
        } catch {
            logger.error("revoking a refused user's grants failed", metadata: ["user_id": "\(userID)"])
        }
    }
}

extension SignInRefusal {
    var reason: String {
        switch decision {
        case .admitted, .refused: "sign_in_refused"
        case .missingScope: "sign_in_scope_missing"
        case .unavailable: "sign_in_check_unavailable"
        }
    }
}
