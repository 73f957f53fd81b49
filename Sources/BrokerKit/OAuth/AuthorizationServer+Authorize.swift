import Foundation
import HTTPTypes
import Hummingbird

/// `GET /oauth/authorize` and `POST /oauth/consent`: validate, remember the request server-side,
/// ask for consent once per browser and client, then send the browser to Forgejo.
extension AuthorizationServer {
    func authorize(_ request: Request, context: BrokerRequestContext) async -> Response {
        let parameters = OAuthParameters(encoded: request.uri.query ?? "")
        let clientIDText = try? parameters.value("client_id")
        do {
            try await limitBrowser("authorize", context: context)
            let (client, redirectURI) = try await trustedClient(parameters)
            let pending = try validatedRequest(parameters, client: client, redirectURI: redirectURI)
            let binding = cookies.bindingValue(in: request) ?? Base64URL.encode(OpaqueToken.randomBytes(32))
            let now = clock.now()
            let record = PendingAuthorizationRecord(
                id: OpaqueToken.generate(.opaque), clientID: client.clientID, redirectURI: redirectURI, clientState: pending.state,
                codeChallenge: pending.codeChallenge, scope: pending.scope, resource: config.mcpResource,
                browserBindingHash: TokenHasher.hash(binding), createdAt: now, expiresAt: now.addingTimeInterval(options.pendingLifetime))
            try await insertPending(record)
            var response: Response
            if consentMemory.isApproved(cookie: request.cookies[cookies.consent]?.value, clientID: client.clientID,
                                        redirectURI: redirectURI, now: now) {
                OAuthTelemetry.step(context.logger, "authorize", clientID: client.clientID, reason: "consent_remembered")
                response = try await startUpstreamLeg(record, status: .found, context: context)
            } else {
                OAuthTelemetry.step(context.logger, "authorize", clientID: client.clientID, reason: "consent_required")
                response = consentPage(client: client, pending: record, binding: binding)
            }
            response.headers.append(HTTPField(name: .setCookie, value: cookies.setCookie(
                name: cookies.binding, value: binding, maxAge: Int(options.pendingLifetime))))
            return response
        } catch let failure as AuthorizeFailure {
            return render(failure, endpoint: "authorize", clientID: clientIDText ?? nil, context: context)
        } catch {
            return render(.page(status: .serverError, reason: "internal_error", message: "The request could not be processed."),
                          endpoint: "authorize", clientID: clientIDText ?? nil, context: context)
        }
    }

    /// Step 1: client and redirect URI, whose failures must never redirect.
    private func trustedClient(_ parameters: OAuthParameters) async throws -> (ClientRecord, String) {
        let clientID = try pageParameter(parameters, "client_id")
        let redirectURI = try pageParameter(parameters, "redirect_uri")
        if MetadataDocumentFetcher.isDocumentURL(clientID), let allowed = config.access.clientIDHosts,
           !allowed.permitsHost(URLComponents(string: clientID)?.host ?? "") {
            throw AuthorizeFailure.page("client_id_host_not_allowed", "Applications from this address are not allowed on this server.")
        }
        let client: ClientRecord
        do {
            client = try await clients.clientForAuthorization(clientID, now: clock.now())
        } catch .unknown {
            throw AuthorizeFailure.page("unknown_client", "This application is not registered with this server.")
        } catch .document(let problem) {
            throw AuthorizeFailure.document(problem)
        } catch .store {
            throw AuthorizeFailure.page(status: .serverError, reason: "store_error", message: "The request could not be processed.")
        }
        guard RedirectURIPolicy.matches(requested: redirectURI, registered: client.redirectURIs) else {
            throw AuthorizeFailure.page("redirect_uri_mismatch", "The redirect URI is not registered for this application.")
        }
        // Also for clients registered (or documents cached) before the list was set; the
        // operator's own static clients are trusted as configured.
        if let allowed = config.access.redirectHosts, !clients.isStatic(client.clientID), !allowed.permits(redirectURI) {
            throw AuthorizeFailure.page("redirect_uri_not_allowed",
                                        "This application sends you back to \(ClientHostAllowlist.describe(redirectURI)), which this server does not allow.")
        }
        return (client, redirectURI)
    }

    private func pageParameter(_ parameters: OAuthParameters, _ name: String) throws -> String {
        do {
            guard let value = try parameters.value(name) else {
                throw AuthorizeFailure.page("\(name)_missing", "The request lacks \(name).")
            }
            return value
        } catch let problem as OAuthParameters.Problem {
            throw AuthorizeFailure.page(problem.reason, "The request is malformed: \(problem.message).")
        }
    }

    private struct ValidatedRequest {
        let state: String?
        let codeChallenge: String
        let scope: String
    }

    /// Step 2: everything else; failures go back to the now-trusted redirect URI.
    private func validatedRequest(_ parameters: OAuthParameters, client: ClientRecord, redirectURI: String) throws -> ValidatedRequest {
        var state: String?
        func fail(_ kind: OAuthError.Kind, _ reason: String, _ detail: String) -> AuthorizeFailure {
            .redirect(redirectURI: redirectURI, state: state, error: OAuthError(kind, reason: reason, detail))
        }
        do {
            state = try parameters.value("state", maxLength: 1_024)
            guard let responseType = try parameters.value("response_type") else {
                throw fail(.invalidRequest, "response_type_missing", "response_type is required")
            }
            guard responseType == "code" else {
                throw fail(.unsupportedResponseType, "unsupported_response_type", "only response_type=code is supported")
            }
            guard let challenge = try parameters.value("code_challenge") else {
                throw fail(.invalidRequest, "code_challenge_missing", "PKCE code_challenge is required")
            }
            guard try parameters.value("code_challenge_method") == "S256" else {
                throw fail(.invalidRequest, "pkce_method_not_s256", "code_challenge_method must be S256")
            }
            guard PKCE.isValidChallenge(challenge) else {
                throw fail(.invalidRequest, "code_challenge_malformed", "code_challenge must be 43 base64url characters")
            }
            if let resource = try parameters.value("resource"), !ResourceIndicator.matches(resource, resource: config.mcpResource) {
                throw fail(.invalidTarget, "resource_mismatch", "resource must be \(config.mcpResource)")
            }
            guard let scope = OAuthScope.grant(requested: try parameters.value("scope", maxLength: 1_024)) else {
                throw fail(.invalidScope, "scope_malformed", "scope is not a valid scope list")
            }
            return ValidatedRequest(state: state, codeChallenge: challenge, scope: scope)
        } catch let problem as OAuthParameters.Problem {
            throw fail(.invalidRequest, problem.reason, problem.message)
        }
    }

    /// Stores the request within both bounds: the browser's own oldest requests give way (a user
    /// with many tabs keeps the newest), while a full table refuses new ones rather than evict
    /// other people's sign-ins in progress.
    private func insertPending(_ record: PendingAuthorizationRecord) async throws {
        let inserted: Bool
        do {
            inserted = try await store.insertPendingAuthorization(
                record, maxPerBrowser: options.maxPendingPerBrowser, maxTotal: config.oauth.maxPendingAuthorizations, now: clock.now())
        } catch {
            throw AuthorizeFailure.page(status: .serverError, reason: "store_error", message: "The request could not be processed.")
        }
        guard inserted else {
            throw AuthorizeFailure.page(status: .serviceUnavailable, reason: "too_many_pending_authorizations",
                                        message: "Too many sign-ins are in progress on this server. Try again in a few minutes.")
        }
    }

    private func consentPage(client: ClientRecord, pending: PendingAuthorizationRecord, binding: String) -> Response {
        let redirect = URLComponents(string: pending.redirectURI)
        // A native app's private-use scheme has no host to name: the scheme says which app.
        let isWeb = ["http", "https"].contains(redirect?.scheme?.lowercased() ?? "")
        let host = isWeb ? (redirect?.host ?? "?") + (redirect?.port.map { ":\($0)" } ?? "")
                         : ClientHostAllowlist.describe(pending.redirectURI) + " (an application on your device)"
        let page = OAuthPages.Consent(
            clientName: client.name, clientID: client.clientID, isMetadataDocument: client.kind == .metadataDocument,
            isPreconfigured: clients.isStatic(client.clientID),
            redirectHost: host, redirectIsLoopback: !isWeb || PublicURL.isLoopbackHost(redirect?.host ?? ""),
            forgejoHost: URLComponents(string: forgejoOrigin)?.host ?? forgejoOrigin, forgejoScopes: config.forgejo.scopes,
            requestID: pending.id, csrf: csrfToken(pendingID: pending.id, bindingHash: pending.browserBindingHash))
        // Approve redirects to Forgejo, which may redirect at once to our callback ('self') and on to
        // the client; Deny redirects straight to the client. Chromium checks form-action on each hop.
        let targets = [forgejoOrigin, OAuthPages.formActionSource(for: pending.redirectURI)].compactMap { $0 }
        return OAuthPages.response(OAuthPages.consent(page), formTargets: targets)
    }

    /// Ties the consent form to both the pending request and the browser's binding cookie, so a
    /// form posted from another site or another browser is refused.
    func csrfToken(pendingID: String, bindingHash: String) -> String {
        let signed = csrfSigner.sign(pendingID + "|" + bindingHash)
        return String(signed[signed.index(after: signed.lastIndex(of: ".") ?? signed.startIndex)...])
    }

    /// Creates the Forgejo-leg `state` and PKCE verifier only now, after consent (MCP security
    /// guidance), and sends the browser to Forgejo.
    func startUpstreamLeg(_ pending: PendingAuthorizationRecord, status: HTTPResponse.Status, context: BrokerRequestContext) async throws -> Response {
        let state = OpaqueToken.generate(.state)
        let verifier = Base64URL.encode(OpaqueToken.randomBytes(32))
        do {
            try await store.beginUpstreamLeg(pendingID: pending.id, upstreamStateHash: TokenHasher.hash(state),
                                             upstreamVerifierSealed: verifierBox.seal(verifier, context: "pending:" + pending.id))
        } catch {
            throw AuthorizeFailure.page(status: .serverError, reason: "store_error", message: "The request could not be processed.")
        }
        OAuthTelemetry.step(context.logger, "upstream_redirect", clientID: pending.clientID)
        let location = forgejo.authorizeURL(state: state, codeChallenge: TokenHasher.pkceChallenge(verifier: verifier))
        return Response(status: status, headers: [.location: location])
    }
}
