import AsyncHTTPClient
import BrokerKit
import FakeForgejo
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A fake Forgejo plus the broker router (authorization server and `/mcp`) served on
/// 127.0.0.1:0, over a temporary SQLite file. Reusable by any suite that needs logged-in
/// clients: `start()`, then ``logInAndGetTokens(login:client:browser:)``.
final class OAuthTestBroker: Sendable {
    static let forgejoClientID = TestBrokerFrame.forgejoClientID
    static let forgejoClientSecret = TestBrokerFrame.forgejoClientSecret
    static let users = TestBrokerFrame.users

    struct Components: Sendable {
        let store: SQLiteStore
        let bearer: BearerAuthenticator
        let authorizationServer: AuthorizationServer
    }

    let frame: TestBrokerFrame
    var forgejo: FakeForgejoServer { frame.forgejo }
    var baseURL: String { frame.config.issuer }
    var config: BrokerConfig { frame.config }
    var httpClient: HTTPClient { frame.httpClient }
    var directory: String { frame.directory }
    let clock: ManualClock
    private let options: AuthorizationServer.Options
    private let masterKey: [UInt8]
    private let current: Mutex<Components?>

    var components: Components {
        get throws {
            guard let components = current.withLock({ $0 }) else { throw CancellationError() }
            return components
        }
    }

    var store: SQLiteStore { get throws { try components.store } }
    var issuer: String { config.issuer }

    /// - Parameters:
    ///   - autoApprove: the Forgejo user that is logged in and consents automatically; nil
    ///     makes the browser go through Forgejo's login and consent forms.
    ///   - environment: extra settings (e.g. `FJMCP_REFRESH_GRACE`).
    static func start(autoApprove: String? = "alice", environment: [String: String] = [:],
                      options: AuthorizationServer.Options = AuthorizationServer.Options()) async throws -> OAuthTestBroker {
        var env = ["FJMCP_CIMD_ALLOW_PRIVATE": "true", "FJMCP_CIMD_PORTS": "any"]
        env.merge(environment) { _, new in new }
        let frame = try await TestBrokerFrame.start(label: "oauth-test-broker", autoApprove: autoApprove, environment: env)
        let broker = OAuthTestBroker(frame: frame, clock: ManualClock(), options: options, masterKey: OpaqueToken.randomBytes(32))
        try broker.restart()
        return broker
    }

    private init(frame: TestBrokerFrame, clock: ManualClock, options: AuthorizationServer.Options, masterKey: [UInt8]) {
        self.frame = frame
        self.clock = clock
        self.options = options
        self.masterKey = masterKey
        self.current = Mutex(nil)
    }

    /// Builds a fresh store, authenticator and router over the same database file and key, as
    /// a restarted broker process would (in-memory caches and rate limits are gone).
    func restart() throws {
        let store = try SQLiteStore(path: config.databasePath)
        let bearer = BearerAuthenticator(config: config, store: store, clock: clock.oauthClock)
        let server = AuthorizationServer(config: config, store: store, masterKey: masterKey, httpClient: httpClient, bearer: bearer,
                                         clock: clock.oauthClock, options: options)
        let router = BrokerServer.makeRouter(config: config, checks: [], providers: [server, BearerEchoRoute(bearer: bearer)])
        let previous = current.withLock { components in
            defer { components = Components(store: store, bearer: bearer, authorizationServer: server) }
            return components
        }
        frame.responder.install(router)
        try previous?.store.close()
    }

    func stop() async {
        await frame.stop(closing: current.withLock { $0 }?.store)
    }
}
