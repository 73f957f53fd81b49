import Foundation
import HTTPTypes
import Hummingbird

/// `POST /oauth/consent`: the user's decision on the consent page.
extension AuthorizationServer {
    func consent(_ request: Request, context: BrokerRequestContext) async throws -> Response {
        var clientID: String?
        do {
            try await limitBrowser("consent", context: context)
            let parameters: OAuthParameters
            do {
                parameters = try await formParameters(request, context: context)
            } catch is OAuthError {
                throw AuthorizeFailure.page("consent_not_form", "The consent form was not submitted correctly.")
            }
            let (pendingID, csrf, decision): (String?, String?, String?)
            do {
                (pendingID, csrf, decision) = (try parameters.value("request"), try parameters.value("csrf"), try parameters.value("decision"))
            } catch {
                throw AuthorizeFailure.page(error.reason, "The consent form is malformed.")
            }
            guard let pendingID, let csrf, let decision else {
                throw AuthorizeFailure.page("consent_field_missing", "The consent form is incomplete.")
            }
            let pending = try await pendingForConsent(pendingID)
            clientID = pending.clientID
            guard let binding = cookies.bindingValue(in: request),
                  ConstantTime.equals(TokenHasher.hash(binding), pending.browserBindingHash) else {
                throw AuthorizeFailure.page(status: .forbidden, reason: "browser_mismatch",
                                            message: "This authorization was started in another browser. Start again from the application.")
            }
            guard ConstantTime.equals(csrf, csrfToken(pendingID: pending.id, bindingHash: pending.browserBindingHash)) else {
                throw AuthorizeFailure.page(status: .forbidden, reason: "csrf_mismatch", message: "The consent form could not be verified.")
            }
            switch decision {
            case "approve":
                var response = try await startUpstreamLeg(pending, status: .seeOther, context: context)
                let remembered = consentMemory.approving(cookie: request.cookies[cookies.consent]?.value, clientID: pending.clientID,
                                                         redirectURI: pending.redirectURI, now: clock.now())
                response.headers.append(HTTPField(name: .setCookie, value: cookies.setCookie(
                    name: cookies.consent, value: remembered, maxAge: Int(ConsentMemory.approvalLifetime))))
                OAuthTelemetry.step(context.logger, "consent", clientID: pending.clientID, reason: "approved")
                options.audit?.record(AuditRecord(event: .consent, user: nil, client: pending.clientID, outcome: "approved"))
                return response
            case "deny":
                _ = try? await store.takePendingAuthorization(id: pending.id)
                OAuthTelemetry.step(context.logger, "consent", clientID: pending.clientID, outcome: "denied", reason: "user_denied")
                options.audit?.record(AuditRecord(event: .consent, user: nil, client: pending.clientID, outcome: "denied"))
                return errorRedirect(pending.redirectURI, state: pending.clientState,
                                     error: OAuthError(.accessDenied, reason: "user_denied", "the user denied the request"), status: .seeOther)
            default:
                throw AuthorizeFailure.page("consent_decision_invalid", "The consent form is malformed.")
            }
        } catch let failure as AuthorizeFailure {
            return render(failure, endpoint: "consent", clientID: clientID, context: context, status: .seeOther)
        }
    }

    private func pendingForConsent(_ id: String) async throws -> PendingAuthorizationRecord {
        let pending: PendingAuthorizationRecord?
        do {
            pending = try await store.pendingAuthorization(id: id)
        } catch {
            throw AuthorizeFailure.page(status: .serverError, reason: "store_error", message: "The request could not be processed.")
        }
        guard let pending, pending.expiresAt > clock.now() else {
            throw AuthorizeFailure.page("request_expired", "This authorization request has expired. Start again from the application.")
        }
        return pending
    }
}
