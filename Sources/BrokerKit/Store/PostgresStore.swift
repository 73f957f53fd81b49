import Foundation
import Logging
import PostgresNIO

/// The ``BrokerStore`` on PostgreSQL, for operators who already run it (and, later, several
/// replicas). Same schema, same semantics as ``SQLiteStore``: every method is one transaction,
/// contended writes are compare-and-swaps (`UPDATE … WHERE … RETURNING`), and the bounded
/// inserts that SQLite serialises by having one writer take an advisory lock here instead.
///
/// The connection pool's `run()` is driven by a task this store owns, not by the broker's
/// service group: the store must work before the group starts (migrations, `audit`) and after
/// it stops (the last in-flight requests finish before `shutdown()`), and postgres-nio cancels
/// a client that a service group runs at the first shutdown signal.
public final class PostgresStore: Sendable {
    public enum OpenError: Error, CustomStringConvertible {
        case connect(target: String, reason: String)
        case migrate(target: String, reason: String)

        public var description: String {
            switch self {
            case .connect(let target, let reason): "cannot connect to the database \(target): \(reason)"
            case .migrate(let target, let reason): "cannot migrate the database \(target): \(reason)"
            }
        }
    }

    let client: PostgresClient
    let logger: Logger
    /// Refreshes holding their user's lock at once (see ``withUpstreamRefreshLock(userID:_:)``).
    let refreshPermits: AsyncPermits
    private let runner: Task<Void, Never>
    /// Where, without the password: the only form of the location that reaches logs and errors.
    public let target: String

    /// How long `ping` (the readiness check) waits for an answer: a server that stopped answering
    /// makes `/readyz` fail within this, not after the pool's connect timeout and retries.
    static let pingTimeout: Duration = .seconds(3)

    /// Connects once, directly, to check the server and apply pending migrations, then starts the
    /// pool. The direct connection fails at once with the server's reason (wrong password, no such
    /// database); the pool would retry with backoff and report only a tripped circuit breaker.
    public static func open(_ location: PostgresLocation, logger brokerLogger: Logger) async throws(OpenError) -> PostgresStore {
        let target = location.redacted
        // postgres-nio logs backend messages and bound values at trace level: rows of sealed
        // tokens and token hashes. Never below info, whatever FJMCP_LOG_LEVEL says.
        var logger = brokerLogger
        logger.logLevel = max(logger.logLevel, .info)
        let connection: PostgresConnection
        let configuration: PostgresClient.Configuration
        do {
            configuration = try makeConfiguration(location)
            connection = try await PostgresConnection.connect(configuration: try makeConnectionConfiguration(location), id: 0, logger: logger)
        } catch {
            throw .connect(target: target, reason: describe(error))
        }
        do {
            try await PostgresMigrations.migrate(connection, logger: logger)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw .migrate(target: target, reason: describe(error))
        }
        return PostgresStore(configuration: configuration, target: target, logger: logger)
    }

    private init(configuration: PostgresClient.Configuration, target: String, logger: Logger) {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        refreshPermits = AsyncPermits(configuration.options.maximumConnections / 4)
        self.target = target
        self.logger = logger
        // Detached: a task inheriting a service's task locals would be cancelled by postgres-nio
        // at that service group's first shutdown signal, before the last requests finished.
        runner = Task.detached { await client.run() }
    }

    /// Closes the pool; queries after this fail.
    public func shutdown() async {
        runner.cancel()
        await runner.value
    }

    /// The pool's configuration.
    static func makeConfiguration(_ location: PostgresLocation) throws -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch location.endpoint {
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: location.user, password: location.password, database: location.database)
        case .tcp(let host, let port):
            let tls: PostgresClient.Configuration.TLS = switch try tlsSettings(location) {
            case nil: .disable
            case (let settings, required: false)?: .prefer(settings)
            case (let settings, required: true)?: .require(settings)
            }
            configuration = .init(host: host, port: port, username: location.user, password: location.password, database: location.database,
                                  tls: tls)
        }
        configuration.options.connectTimeout = connectTimeout
        return configuration
    }

    /// The same location for one direct connection (``open(_:logger:)``).
    private static func makeConnectionConfiguration(_ location: PostgresLocation) throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        switch location.endpoint {
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: location.user, password: location.password, database: location.database)
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS = switch try tlsSettings(location) {
            case nil: .disable
            case (let settings, required: false)?: .prefer(try NIOSSLContext(configuration: settings))
            case (let settings, required: true)?: .require(try NIOSSLContext(configuration: settings))
            }
            configuration = .init(host: host, port: port, username: location.user, password: location.password, database: location.database,
                                  tls: tls)
        }
        configuration.options.connectTimeout = .seconds(Int64(connectTimeout.components.seconds))
        return configuration
    }

    static let connectTimeout: Duration = .seconds(5)

    /// libpq's `sslmode` as a TLS configuration and whether TLS is required; nil when disabled.
    /// `prefer` and `require` encrypt without verifying (as libpq does); `verify-full` verifies
    /// the chain and the host name.
    private static func tlsSettings(_ location: PostgresLocation) throws -> (TLSConfiguration, required: Bool)? {
        var settings = TLSConfiguration.makeClientConfiguration()
        switch location.tls {
        case .disable:
            return nil
        case .prefer, .require:
            settings.certificateVerification = .none
        case .verifyFull:
            settings.certificateVerification = .fullVerification
            if let path = location.rootCertificatePath {
                settings.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(path))
            }
        }
        return (settings, required: location.tls != .prefer)
    }

    /// A reason an operator can act on. PSQLError's own description is deliberately generic and
    /// its debug description carries the query's bound values (token hashes, sealed tokens), so
    /// only the server's message or the error code is shown.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PostgresTransactionError {
            return describe(error.beginError ?? error.closureError ?? error.commitError ?? error.rollbackError ?? CancellationError())
        }
        guard let error = error as? PSQLError else { return "\(error)" }
        if let message = error.serverInfo?[.message] { return message }
        if let underlying = error.underlying { return "\(error.code): \(underlying)" }
        return "\(error.code)"
    }
}

// MARK: Running statements

extension PostgresStore {
    /// Runs `body` in one transaction (committed when it returns, rolled back when it throws) and
    /// rethrows the body's own error rather than postgres-nio's wrapper, so callers see what failed.
    func transaction<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        do {
            return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error.beginError ?? error.commitError ?? error
        }
    }

    /// The rows of one statement outside an explicit transaction (a single statement is atomic).
    @discardableResult
    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await collect(client.query(query, logger: logger))
    }

    /// Transaction-scoped advisory lock on one of the store's keys, released at commit or
    /// rollback. Serialises the read-then-write methods SQLite serialises with its single writer.
    static func lock(_ key: AdvisoryLock, _ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_xact_lock(\(AdvisoryLock.namespace), \(key.rawValue))", logger: logger)
    }
}

/// Keys of the store's transaction-scoped advisory locks, in one namespace (the first of the two
/// 32-bit keys) so they cannot collide with another application's locks on a shared server.
enum AdvisoryLock: Int32 {
    case migrations = 1
    case boundedClients = 2
    case boundedPendingAuthorizations = 3

    /// "fjmp".
    static let namespace: Int32 = 0x666A_6D70
    /// "fjmr": per-user Forgejo refresh locks, keyed by user id (``PostgresStore/withUpstreamRefreshLock(userID:_:)``).
    static let upstreamRefreshNamespace: Int32 = 0x666A_6D72
}

extension PostgresConnection {
    @discardableResult
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRandomAccessRow] {
        try await collect(self.query(query, logger: logger))
    }

    /// How many rows a statement touched, counted from its `RETURNING` rows.
    func count(_ query: PostgresQuery, logger: Logger) async throws -> Int {
        try await rows(query, logger: logger).count
    }
}

private func collect(_ sequence: PostgresRowSequence) async throws -> [PostgresRandomAccessRow] {
    var rows: [PostgresRandomAccessRow] = []
    for try await row in sequence { rows.append(row.makeRandomAccess()) }
    return rows
}
