import AsyncHTTPClient
import Foundation
import Hummingbird

/// The OAuth 2.1 authorization server for MCP clients (design §2–§3): metadata, registration
/// (DCR and metadata documents), authorize with consent, the Forgejo leg, token, revocation.
/// Everything it hands out is bound to `config.mcpResource` and checked by ``BearerAuthenticator``.
public final class AuthorizationServer: RouteProvider, Sendable {
    public struct Options: Sendable {
        /// How long a user has between `/oauth/authorize` and the Forgejo callback.
        public var pendingLifetime: TimeInterval = 600
        /// Authorization code lifetime (OAuth 2.1 recommends at most a minute).
        public var codeLifetime: TimeInterval = 60
        /// Pending authorization requests one browser (binding cookie) keeps; its oldest is dropped beyond.
        public var maxPendingPerBrowser = 10
        /// Concurrency and negative caching of metadata document fetches (rates, ports and the
        /// deadline come from ``BrokerConfig/oauth``).
        var metadataFetches = MetadataDocumentFlights.Limits()
        /// Bound on each call to Forgejo during login, so a hung Forgejo yields an error page, not a hung browser.
        public var upstreamTimeout: Duration = .seconds(10)
        public var hostResolver: any HostResolver = SystemHostResolver()
        /// Where sign-ins and consents are recorded; nil: nowhere.
        public var audit: AuditTrail?

        public init() {}
    }

    let config: BrokerConfig
    let store: any BrokerStore
    let forgejo: ForgejoClient
    let bearer: BearerAuthenticator
    let upstreamGrantState: any UpstreamGrantState
    let revocationObserver: (any GrantRevocationObserver)?
    let clock: OAuthClock
    let options: Options
    let clients: ClientDirectory
    let cookies: BrowserCookies
    let consentMemory: ConsentMemory
    let account: AccountSignIn
    let csrfSigner: Signer
    /// Stores each login's Forgejo token set, the later of two logins of a user winning.
    let loginWriter: UpstreamLoginWriter
    let verifierBox: SecretBox
    let successorBox: SecretBox
    /// Keyed `endpoint|address` for authorize, consent and callback.
    let browserLimiter: RateLimiter
    let registrationLimiter: RateLimiter
    /// Keyed `endpoint|client id` for token and revoke.
    let tokenLimiter: RateLimiter

    public init(
        config: BrokerConfig, store: any BrokerStore, masterKey: [UInt8], httpClient: HTTPClient, bearer: BearerAuthenticator,
        upstreamGrantState: any UpstreamGrantState = AssumeUpstreamGrantAlive(), revocationObserver: (any GrantRevocationObserver)? = nil,
        clock: OAuthClock = .system, options: Options = Options()
    ) {
        self.config = config
        self.store = store
        var forgejoConfiguration = ForgejoClient.Configuration(broker: config)
        forgejoConfiguration.requestTimeout = options.upstreamTimeout
        self.forgejo = ForgejoClient(httpClient: httpClient, configuration: forgejoConfiguration)
        self.bearer = bearer
        self.upstreamGrantState = upstreamGrantState
        self.revocationObserver = revocationObserver
        self.clock = clock
        self.options = options
        self.clients = ClientDirectory(
            store: store,
            fetcher: MetadataDocumentFetcher(resolver: options.hostResolver, allowPrivate: config.cimdAllowPrivate,
                                             allowedPorts: config.oauth.cimdPorts, timeout: config.oauth.cimdFetchTimeout),
            limits: options.metadataFetches, clock: clock, staticClients: config.access.staticClients)
        self.cookies = BrowserCookies(publicURL: config.publicURL)
        // Keys of earlier rotations still open and verify; everything new uses `masterKey`.
        let previous = config.previousSecretKeys
        self.consentMemory = ConsentMemory(masterKey: masterKey, previousMasterKeys: previous)
        self.account = AccountSignIn(masterKey: masterKey, previousMasterKeys: previous)
        self.csrfSigner = Signer(masterKey: masterKey, purpose: "consent-csrf", previousMasterKeys: previous)
        self.loginWriter = UpstreamLoginWriter(
            store: store, box: SecretBox(masterKey: masterKey, purpose: UpstreamTokenSet.purpose, previousMasterKeys: previous))
        self.verifierBox = SecretBox(masterKey: masterKey, purpose: "upstream-pkce-verifier", previousMasterKeys: previous)
        self.successorBox = SecretBox(masterKey: masterKey, purpose: "refresh-successor", previousMasterKeys: previous)
        self.browserLimiter = RateLimiter(policy: config.oauth.authorizeRate)
        self.registrationLimiter = RateLimiter(policy: config.oauth.registerRate)
        self.tokenLimiter = RateLimiter(policy: config.oauth.tokenRate)
    }

    /// Forgejo's `/api/v1/version` as a readiness probe (not required: the broker keeps serving
    /// existing sessions while Forgejo is down), probed in the background so `/readyz` answers at
    /// once from the last result even while Forgejo hangs.
    public var forgejoReadinessCheck: ReadinessCheck { .forgejo(forgejo) }

    public func addRoutes(to router: Router<BrokerRequestContext>) {
        addMetadataRoutes(to: router)
        router.post("/oauth/register") { request, context in try await self.register(request, context: context) }
        router.get("/oauth/authorize") { request, context in
            // A browser that goes away takes its request's work (a metadata document fetch) with
            // it; the answer then has nobody to go to (and the failure is logged as cimd_abandoned).
            var response = (try? await request.body.consumeWithCancellationOnInboundClose { _ in
                await self.authorize(request, context: context)
            }) ?? Response(status: .badRequest)
            // Watching for the close ends the connection after the response; a client must not reuse it.
            response.headers[.connection] = "close"
            return response
        }
        router.post("/oauth/consent") { request, context in try await self.consent(request, context: context) }
        router.get("/oauth/callback") { request, context in await self.callback(request, context: context) }
        router.post("/oauth/token") { request, context in try await self.token(request, context: context) }
        router.post("/oauth/revoke") { request, context in try await self.revoke(request, context: context) }
        addAccountRoutes(to: router)
    }

    /// Metadata document fetches whose work has not ended (including ones already answered at their deadline).
    public var activeMetadataFetches: Int {
        get async { await clients.activeFetches }
    }

    /// Takes a token from the caller's per-address bucket for a browser endpoint.
    func limitBrowser(_ endpoint: String, context: BrokerRequestContext) async throws(AuthorizeFailure) {
        if case .limited(let retryAfter) = await browserLimiter.check(endpoint + "|" + ClientAddress.rateLimitKey(context.clientAddress)) {
            throw .rateLimited(retryAfter: retryAfter)
        }
    }

    /// Revokes a grant and drops its cached access tokens at once, whatever path revoked it.
    func revokeGrant(_ grantID: String) async throws {
        let revoked = try await store.revokeGrant(id: grantID, now: clock.now())
        bearer.invalidate(grantID: grantID)
        guard revoked else { return }
        OAuthTelemetry.revoked()
        if let revocationObserver, let grant = try await store.grant(id: grantID) {
            await revocationObserver.grantRevoked(userID: grant.userID, clientID: grant.clientID)
        }
    }

    /// Reads a form body; JSON or anything else is `invalid_request` (RFC 6749 §3.2 mandates forms).
    func formParameters(_ request: Request, context: BrokerRequestContext) async throws -> OAuthParameters {
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/x-www-form-urlencoded" else {
            throw OAuthError.invalidRequest("not_form_encoded", "the body must be application/x-www-form-urlencoded")
        }
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        return OAuthParameters(encoded: String(buffer: body))
    }
}

extension ReadinessCheck {
    /// Every 10 s, given up after 5 s: a hung Forgejo reads "failing" within 5 s, not after the
    /// API client's own 10 s request timeout.
    static func forgejo(_ forgejo: ForgejoClient, every interval: Duration = .seconds(10), timeout: Duration = .seconds(5)) -> ReadinessCheck {
        ReadinessCheck(name: "forgejo", required: false, schedule: .background(every: interval, timeout: timeout)) {
            _ = try await forgejo.version()
        }
    }
}
