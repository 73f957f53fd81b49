import AsyncHTTPClient
import Foundation
import Logging
import PostgresNIO
import XCTest

/// `fjmcp-broker serve` processes as replicas (`FJMCP_REPLICA_URL` = each one's own address) on a
/// new database of the test PostgreSQL server (FJMCP_TEST_POSTGRES_URL), sharing one secret key,
/// one public URL and one Forgejo (the first broker's). `stop()` ends them and drops the database.
final class PostgresReplicas: @unchecked Sendable {
    private(set) var brokers: [ServedBroker] = []
    private var database: String?
    /// The shared secret key's file: kept until `stop()`, since a replica restarted by a test reads it again.
    private var keyFile: String?
    private let server: URLComponents
    /// What every replica's environment holds: the test's settings, the database, the key, and
    /// once the first one runs its public URL and Forgejo.
    private var shared: [String: String] = [:]

    init() throws {
        guard let raw = ProcessInfo.processInfo.environment["FJMCP_TEST_POSTGRES_URL"], !raw.isEmpty,
              let server = URLComponents(string: raw) else {
            throw XCTSkip("FJMCP_TEST_POSTGRES_URL is unset: PostgreSQL is not available here (scripts/test.sh starts it)")
        }
        self.server = server
    }

    /// Starts `count` replicas with `settings` added to each one's environment.
    func start(_ count: Int, settings: [String: String] = [:]) async throws -> [ServedBroker] {
        // A generated name of hex digits only, never input.
        let name = "fjmcp_replicas_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await admin("CREATE DATABASE \(unescaped: name)")
        database = name
        var url = server
        url.path = "/" + name
        url.query = "sslmode=disable"
        let keyFile = NSTemporaryDirectory() + "fjmcp-replica-key-" + UUID().uuidString
        self.keyFile = keyFile
        let key = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        guard FileManager.default.createFile(atPath: keyFile, contents: Data(key.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ProductProcess.ProcessFailure(message: "cannot create \(keyFile)")
        }
        shared = settings.merging(["FJMCP_DATABASE_URL": url.string ?? "", "FJMCP_SECRET_KEY_FILE": keyFile]) { _, new in new }
        for _ in 0..<count {
            let port = try FreePort.pick()
            try await add(address: "http://127.0.0.1:\(port)", port: port)
        }
        return brokers
    }

    /// One more replica, listening on `port` and telling the others to reach it at `address`
    /// (its own address, except in tests of a misconfiguration).
    @discardableResult
    func add(address: String, port: Int) async throws -> ServedBroker {
        let broker = try await ServedBroker.start(environment: shared.merging(["FJMCP_REPLICA_URL": address]) { _, new in new }, port: port)
        brokers.append(broker)
        if brokers.count == 1 {
            shared["FJMCP_PUBLIC_URL"] = broker.baseURL
            shared["FORGEJO_URL"] = broker.forgejo.baseURL
        }
        return broker
    }

    func stop() async throws {
        for broker in brokers { await broker.shutdown() }
        if let keyFile { try? FileManager.default.removeItem(atPath: keyFile) }
        if let database { try await admin("DROP DATABASE IF EXISTS \(unescaped: database) WITH (FORCE)") }
    }

    /// Runs one statement on the server's own database (CREATE/DROP DATABASE cannot run in the
    /// database they name).
    private func admin(_ statement: PostgresQuery) async throws {
        guard let host = server.host, let port = server.port else { return }
        let client = PostgresClient(configuration: .init(host: host, port: port, username: server.user ?? "postgres", password: nil,
                                                         database: "postgres", tls: .disable), backgroundLogger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(statement)
        }
    }
}
