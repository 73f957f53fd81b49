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
        public var endpoint = MCPEndpoint.Options()
        public var authorization = AuthorizationServer.Options()

        public init() {}
    }

    public let bearer: BearerAuthenticator
    public let authorizationServer: AuthorizationServer
    public let tokenManager: UpstreamTokenManager
    public let sessions: SessionRegistry
    /// The per-user children of stateless 2026-07-28 requests; same token provider and caps as the sessions.
    public let modernChildren: ModernChildPool
    public let rotation: ChildRotation
    public let mcp: MCPEndpoint

    public init(config: BrokerConfig, store: SQLiteStore, masterKey: [UInt8], httpClient: HTTPClient, logger: Logger,
                options: Options = Options()) {
        bearer = BearerAuthenticator(config: config, store: store)
        let forgejo = ForgejoClient(httpClient: httpClient, configuration: ForgejoClient.Configuration(broker: config))
        tokenManager = UpstreamTokenManager(store: store, forgejo: forgejo, masterKey: masterKey,
                                            previousMasterKeys: config.previousSecretKeys, clock: options.upstreamClock,
                                            policy: options.refreshPolicy, logger: logger)
        let childTokens = ManagedUpstreamTokenProvider(manager: tokenManager, minimumRemaining: options.sessionTokenMinimumRemaining)
        sessions = SessionRegistry(
            limits: SessionRegistryLimits(config.sessions), launcher: ChildLauncher(config: config), tokens: childTokens, logger: logger)
        authorizationServer = AuthorizationServer(config: config, store: store, masterKey: masterKey, httpClient: httpClient, bearer: bearer,
                                                  upstreamGrantState: tokenManager, revocationObserver: sessions,
                                                  options: options.authorization)
        modernChildren = ModernChildPool(limits: SessionRegistryLimits(config.sessions), registry: sessions,
                                         launcher: ChildLauncher(config: config), tokens: childTokens, logger: logger,
                                         tokenEvents: tokenManager, drain: options.rotation.drain)
        rotation = ChildRotation(manager: tokenManager, registry: sessions, bearer: bearer, options: options.rotation, logger: logger)
        mcp = MCPEndpoint(registry: sessions, bearer: bearer, publicURL: config.publicURL, options: options.endpoint,
                          modernPool: modernChildren)
    }

    public var providers: [any RouteProvider] { [authorizationServer, mcp] }

    /// In start order; the group stops them in reverse, so children end before the manager.
    public var services: [any Service] { [tokenManager, rotation, sessions, modernChildren] }
}
