import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// The broker's components wired together once, so `Broker.serve` and the integration tests
/// run the same graph: ONE `UpstreamTokenManager` per broker serves the sessions (as their
/// token provider), the authorization server (as its upstream grant state) and the child
/// rotation (through its events).
public struct BrokerAssembly: Sendable {
    public struct Options: Sendable {
        public var upstreamClock: any UpstreamClock = SystemUpstreamClock()
        public var refreshPolicy = UpstreamRefreshPolicy()
        /// What a new session's token must have left; refreshed first otherwise.
        public var sessionTokenMinimumRemaining: Duration = .seconds(120)
        public var rotation = ChildRotation.Options()
        /// How long a replaced child may keep answering the requests it took before a swap.
        public var drain: Duration = .seconds(30)
        public var endpoint = MCPEndpoint.Options()
        public var authorization = AuthorizationServer.Options()

        public init() {}
    }

    public let bearer: BearerAuthenticator
    public let authorizationServer: AuthorizationServer
    public let tokenManager: UpstreamTokenManager
    /// Every child process: legacy sessions and the per-user children of 2026-07-28 requests.
    public let host: ChildHost
    public let rotation: ChildRotation
    public let mcp: MCPEndpoint
    /// The audit trail (tool calls, sign-ins, consents, revocations, dead Forgejo grants). Not
    /// in `services`: the broker runs it so that it stops after the HTTP server (see `Broker`).
    public let audit: AuditTrail
    /// Records users whose Forgejo authorization died.
    let auditUpstream: AuditUpstreamEvents
    /// Checks users' Forgejo tokens against Forgejo when a call fails, a broker token is
    /// refreshed, or periodically while they have children (upstream truth).
    public let truthProbe: UpstreamTruthProbe
    /// Re-checks the sign-in policy at each Forgejo token refresh; nil when the policy is open.
    public let signInEnforcer: SignInEnforcer?
    /// Revocations to and from the other broker processes on the same PostgreSQL database; nil
    /// on SQLite, whose single process needs none.
    let changeFeed: PostgresChangeFeed?
    private let changeListener: (any Service)?
    /// Replica mode (`FJMCP_REPLICA_URL`): where this replica may run children, and its
    /// heartbeat; nil with one broker per database.
    public let placement: ChildPlacement?
    private let heartbeat: ReplicaHeartbeat?

    public init(config: BrokerConfig, store: any StoreEngine, masterKey: [UInt8], httpClient: HTTPClient, logger: Logger,
                options: Options = Options()) {
        changeFeed = (store as? PostgresStore).map { PostgresChangeFeed(store: $0, logger: logger) }
        bearer = BearerAuthenticator(config: config, store: store, changes: changeFeed)
        let forgejo = ForgejoClient(httpClient: httpClient, configuration: ForgejoClient.Configuration(broker: config))
        tokenManager = UpstreamTokenManager(store: store, forgejo: forgejo, masterKey: masterKey,
                                            previousMasterKeys: config.previousSecretKeys, clock: options.upstreamClock,
                                            policy: options.refreshPolicy, logger: logger, changes: changeFeed)
        truthProbe = UpstreamTruthProbe(manager: tokenManager, settings: UpstreamTruthSchedule.Settings(
            periodicInterval: config.upstreamProbeInterval), logger: logger)
        let childTokens = ManagedUpstreamTokenProvider(manager: tokenManager, minimumRemaining: options.sessionTokenMinimumRemaining)
        var limits = SessionRegistryLimits(config.sessions)
        limits.drain = options.drain
        placement = config.replica.map { settings in
            ChildPlacement(identity: ReplicaIdentity(address: settings.address), store: store, lapse: settings.lapse,
                           heartbeat: settings.heartbeat, logger: logger)
        }
        host = ChildHost(limits: limits, launcher: ChildLauncher(config: config), tokens: childTokens, logger: logger, records: store,
                         hasLiveGrant: { userID in
                             // A store that cannot answer keeps the child: ending it is the irreversible choice.
                             (try? await store.activeGrants(userID: userID)).map { !$0.isEmpty } ?? true
                         }, doubts: truthProbe, placement: placement)
        heartbeat = if let placement {
            ReplicaHeartbeat(placement: placement, host: host, logger: logger)
        } else {
            nil
        }
        audit = AuditTrail(settings: config.audit, store: store, logger: logger)
        auditUpstream = AuditUpstreamEvents(manager: tokenManager, trail: audit, store: store)
        var authorization = options.authorization
        authorization.audit = audit
        let localRevocations: any GrantRevocationObserver = if let changeFeed {
            PublishedRevocations(next: host, publisher: changeFeed)
        } else {
            host
        }
        authorizationServer = AuthorizationServer(config: config, store: store, masterKey: masterKey, httpClient: httpClient, bearer: bearer,
                                                  upstreamGrantState: truthProbe, revocationObserver: AuditedRevocations(next: localRevocations, trail: audit, store: store),
                                                  options: authorization)
        rotation = ChildRotation(manager: tokenManager, host: host, bearer: bearer, options: options.rotation, logger: logger)
        signInEnforcer = SignInEnforcer(config: config, forgejo: forgejo, manager: tokenManager, bearer: bearer, audit: audit,
                                        logger: logger) {
            [host] userID in
            let ended = await host.endUser(userID, reason: .grantRevoked)
            return (ended.sessions, ended.userChildren)
        }
        // Replica mode: requests for children another replica holds travel there (signed hop);
        // one whose holder died waits for its lapse, plus a second and a beat for clock skew
        // between replicas and the timing of the holder's last beat.
        let hop: ReplicaHopMiddleware? = if let placement, let settings = config.replica {
            ReplicaHopMiddleware(identity: placement.identity, masterKey: masterKey, previousMasterKeys: config.previousSecretKeys,
                                 lapse: settings.lapse, patience: settings.lapse + .seconds(1) + settings.heartbeat,
                                 keepAliveInterval: options.endpoint.keepAliveInterval,
                                 headTimeout: limits.initializeTimeout * 2 + .seconds(15), holders: placement.holders)
        } else {
            nil
        }
        mcp = MCPEndpoint(host: host, bearer: bearer, publicURL: config.publicURL, options: options.endpoint,
                          tools: ToolGate(policy: config.tools), audit: audit, hop: hop)
        changeListener = if let changeFeed {
            StoreChangeListener(feed: changeFeed, consumer: PropagatedChanges(bearer: bearer, host: host, tokenManager: tokenManager,
                                                                                  logger: logger))
        } else {
            nil
        }
    }

    /// Readiness beyond the store: the change listener, on PostgreSQL; the heartbeat, in replica mode.
    public var readinessChecks: [ReadinessCheck] {
        (changeFeed.map { [$0.readinessCheck] } ?? []) + (placement.map { [$0.readinessCheck] } ?? [])
    }

    public var providers: [any RouteProvider] { [authorizationServer, mcp] }

    /// In start order; the group stops them in reverse, so children end before the manager.
    /// The change listener last: it stops first, before the host it ends sessions on. The
    /// heartbeat first: it beats before the host starts children and stops after it.
    public var services: [any Service] {
        (heartbeat.map { [$0] } ?? []) + [tokenManager, auditUpstream, rotation, host, truthProbe] + (signInEnforcer.map { [$0] } ?? []) + (changeListener.map { [$0] } ?? [])
    }
}
