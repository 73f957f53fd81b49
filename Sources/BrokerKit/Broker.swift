import AsyncHTTPClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import Logging
import ServiceLifecycle

/// Why the broker could not start; each case is one clear line for the operator.
public enum BrokerStartupError: Error, CustomStringConvertible {
    case store(StoreOpenError)
    case secretKey(SecretKeyStore.Failure)
    case listen(address: String, reason: String)
    /// `FJMCP_CHILD_SANDBOX=on` and the sandbox cannot be created here.
    case sandbox(String)
    /// Another live replica has this one's `FJMCP_REPLICA_URL` (found at a heartbeat).
    case replicaAddress(ReplicaAddressTaken)

    public var description: String {
        switch self {
        case .store(let error): "\(error)"
        case .secretKey(let error): "\(error)"
        case .listen(let address, let reason): "cannot listen on \(address): \(reason)"
        case .sandbox(let reason): "FJMCP_CHILD_SANDBOX=on: \(reason)"
        case .replicaAddress(let taken): "\(taken)"
        }
    }

    /// A configuration the operator must change, found only once the broker ran (exit status 2,
    /// which the shipped units do not restart), rather than a start that may work next time.
    public var isConfiguration: Bool {
        if case .replicaAddress = self { true } else { false }
    }
}

/// The broker process: owns the store, the key and the HTTP server, and runs them under one
/// `ServiceGroup` so SIGTERM/SIGINT stop everything in order (stop accepting, finish in-flight
/// requests within the configured bound, close the store).
public final class Broker: Sendable {
    public let config: BrokerConfig
    public let store: any StoreEngine
    public let masterKey: [UInt8]
    public let logger: Logger

    /// Opens the store (connecting and migrating, for PostgreSQL) and loads the key; the store is
    /// closed again when anything after it fails, so a failed start leaves no pool running.
    public init(config: BrokerConfig, logger: Logger) async throws(BrokerStartupError) {
        self.config = config
        self.logger = logger
        let store: any StoreEngine
        do {
            store = try await config.database.open(logger: logger)
        } catch {
            throw .store(error)
        }
        logger.info("store open", metadata: ["database": "\(config.database.redacted)"])
        // The hot path depends on it; the release build once ran without it unnoticed.
        logger.info("swift concurrency jobs", metadata: ["executor": ConcurrencyOnEventLoops.isInstalled ? "event loops" : "default pool"])
        do throws(BrokerStartupError) {
            masterKey = try Self.loadKey(config, logger: logger)
            try Self.checkSandbox(config.child, logger: logger)
        } catch {
            await store.shutdown()
            throw error
        }
        self.store = store
        Self.makeNonDumpable(logger: logger)
    }

    private static func loadKey(_ config: BrokerConfig, logger: Logger) throws(BrokerStartupError) -> [UInt8] {
        do {
            return try SecretKeyStore.load(configured: config.secretKey, dataDirectory: config.dataDirectory, logger: logger)
        } catch {
            throw .secretKey(error)
        }
    }

    /// Probes the child sandbox once, at start: `on` refuses to start without it, `auto` says
    /// once why children run unconfined.
    private static func checkSandbox(_ child: BrokerConfig.ChildSettings, logger: Logger) throws(BrokerStartupError) {
        guard child.sandbox != .off else {
            logger.notice("child sandbox off (FJMCP_CHILD_SANDBOX=off): children run as the broker's user, unconfined")
            return
        }
        switch ChildSandbox.availability(helperPath: child.sandboxHelper) {
        case .available(let sandbox):
            logger.info("child sandbox on", metadata: ["helper": .string(sandbox.helper)])
        case .unavailable(let reason) where child.sandbox == .on:
            throw .sandbox(reason)
        case .unavailable(let reason):
            logger.warning("child sandbox unavailable, children run unconfined (FJMCP_CHILD_SANDBOX=auto): \(reason)")
        }
    }

    /// No core dumps, no ptrace or /proc/<pid>/{environ,mem} access by other processes of the
    /// same user (e.g. an unsandboxed child): the broker holds every user's tokens and the key.
    private static func makeNonDumpable(logger: Logger) {
        #if os(Linux)
        // prctl is variadic in C, so Swift does not import it: call it through its symbol.
        typealias Prctl = @convention(c) (CInt, CUnsignedLong, CUnsignedLong, CUnsignedLong, CUnsignedLong) -> CInt
        let setDumpable: CInt = 4  // PR_SET_DUMPABLE
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "prctl"),
              unsafeBitCast(symbol, to: Prctl.self)(setDumpable, 0, 0, 0, 0) == 0
        else {
            logger.warning("cannot make the broker non-dumpable", metadata: ["errno": "\(errno)"])
            return
        }
        #endif
    }

    /// Runs until a shutdown signal; `onListening` receives the bound port (useful with port 0).
    /// `leading` services start before the HTTP server and stop after it (the audit trail's
    /// writer must outlive the last request that records).
    public func run(providers: [any RouteProvider] = [], extraChecks: [ReadinessCheck] = [], leading: [any Service] = [],
                    services: [any Service] = [],
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
        let maintenance = StoreMaintenanceService(store: store, refreshGrace: config.tokens.refreshGrace,
                                                  grantlessClientLifetime: config.oauth.grantlessClientLifetime,
                                                  audit: config.audit.storesRecords ? (store, config.audit.retention) : nil,
                                                  replicas: config.replica.map { (store, $0.lapse) }, logger: logger)
        var groupConfig = ServiceGroupConfiguration(
            // A service that fails stops the rest in order (requests finish, children end, the
            // audit trail flushes), as a signal does, instead of cancelling them all at once.
            services: leading.map { .init(service: $0) } + [.init(service: app)]
                + ([maintenance, readiness] + services).map { .init(service: $0, failureTerminationBehavior: .gracefullyShutdownGroup) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        groupConfig.maximumGracefulShutdownDuration = config.shutdownTimeout
        groupConfig.maximumCancellationDuration = .seconds(2)
        do {
            try await ServiceGroup(configuration: groupConfig).run()
        } catch {
            // As after a clean stop: no pool is left running behind a failed run.
            await store.shutdown()
            if Self.isAddressInUse(error) { throw BrokerStartupError.listen(address: address, reason: "address already in use") }
            if let taken = error as? ReplicaAddressTaken { throw BrokerStartupError.replicaAddress(taken) }
            throw error
        }
        await store.shutdown()
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
            // The admin socket's directory: on PostgreSQL with a configured key nothing else creates it.
            try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let admin = AdminServer(host: assembly.host, bearer: assembly.bearer, store: store, logger: logger, audit: assembly.audit,
                                    placement: assembly.placement)
                .service(socketPath: AdminServer.socketPath(dataDirectory: config.dataDirectory))
            // The sentinel last: told of a graceful shutdown first, it stops new Forgejo refreshes
            // at the signal; running ones finish before the store closes (after the group).
            try await run(providers: assembly.providers,
                          extraChecks: [assembly.authorizationServer.forgejoReadinessCheck] + assembly.readinessChecks, leading: [assembly.audit],
                          services: assembly.services + [admin, assembly.tokenManager.shutdownSentinel], onListening: onListening)
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
