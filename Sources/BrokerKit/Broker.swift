import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// Why the broker could not start; each case is one clear line for the operator.
public enum BrokerStartupError: Error, CustomStringConvertible {
    case store(SQLiteStore.OpenError)
    case secretKey(SecretKeyStore.Failure)
    case listen(address: String, reason: String)

    public var description: String {
        switch self {
        case .store(let error): "\(error)"
        case .secretKey(let error): "\(error)"
        case .listen(let address, let reason): "cannot listen on \(address): \(reason)"
        }
    }
}

/// The broker process: owns the store, the key and the HTTP server, and runs them under one
/// `ServiceGroup` so SIGTERM/SIGINT stop everything in order (stop accepting, finish in-flight
/// requests within the configured bound, close the store).
public final class Broker: Sendable {
    public let config: BrokerConfig
    public let store: SQLiteStore
    public let masterKey: [UInt8]
    public let logger: Logger

    public init(config: BrokerConfig, logger: Logger) throws(BrokerStartupError) {
        self.config = config
        self.logger = logger
        do {
            store = try SQLiteStore(path: config.databasePath)
        } catch {
            throw .store(error)
        }
        do {
            masterKey = try SecretKeyStore.load(configured: config.secretKey, dataDirectory: config.dataDirectory, logger: logger)
        } catch {
            throw .secretKey(error)
        }
    }

    /// Runs until a shutdown signal; `onListening` receives the bound port (useful with port 0).
    public func run(providers: [any RouteProvider] = [], extraChecks: [ReadinessCheck] = [], services: [any Service] = [],
                    onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let store = self.store
        let checks = [ReadinessCheck(name: "store", required: true) { try await store.ping() }] + extraChecks
        let readiness = ReadinessMonitor(checks: checks, logger: logger)
        let router = BrokerServer.makeRouter(config: config, readiness: readiness, providers: providers)
        let logger = self.logger
        let address = config.listen.description
        let app = BrokerServer.makeApplication(config: config, router: router, logger: logger) { port in
            logger.notice("listening", metadata: ["address": "\(address)", "port": "\(port)"])
            await onListening(port)
        }
        let maintenance = StoreMaintenanceService(store: store, refreshGrace: config.tokens.refreshGrace, logger: logger)
        var groupConfig = ServiceGroupConfiguration(
            services: [.init(service: app)] + ([maintenance, readiness] + services).map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        groupConfig.maximumGracefulShutdownDuration = config.shutdownTimeout
        groupConfig.maximumCancellationDuration = .seconds(2)
        do {
            try await ServiceGroup(configuration: groupConfig).run()
        } catch where Self.isAddressInUse(error) {
            throw BrokerStartupError.listen(address: address, reason: "address already in use")
        }
        try? store.close()
        logger.notice("stopped")
    }

    /// Runs with the OAuth authorization server and the bearer-protected `/mcp` endpoint. One
    /// `HTTPClient` (redirects never followed) serves Forgejo, and is shut down when the broker stops.
    public func serve(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        let assembly = BrokerAssembly(config: config, store: store, masterKey: masterKey, httpClient: httpClient, logger: logger)
        do {
            let admin = AdminServer(registry: assembly.sessions, bearer: assembly.bearer, store: store, logger: logger)
                .service(socketPath: AdminServer.socketPath(dataDirectory: config.dataDirectory))
            try await run(providers: assembly.providers, extraChecks: [assembly.authorizationServer.forgejoReadinessCheck],
                          services: assembly.services + [admin], onListening: onListening)
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
    }

    private static func isAddressInUse(_ error: any Error) -> Bool {
        let text = String(describing: error)
        return text.contains("Address already in use") || text.contains("errno: 98")
    }
}
