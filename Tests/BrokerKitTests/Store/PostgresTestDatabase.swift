@testable import BrokerKit
import Foundation
import Logging
import PostgresNIO
import XCTest

/// A new database on the server named by `FJMCP_TEST_POSTGRES_URL` (scripts/test.sh starts one
/// with scripts/postgres.sh), so every test starts empty and tests never see each other's rows.
/// Without the variable the PostgreSQL tests skip, saying so.
struct PostgresTestDatabase {
    static let variable = "FJMCP_TEST_POSTGRES_URL"

    let server: PostgresLocation
    let location: PostgresLocation

    /// Creates `fjmcp_test_<random>`; throws XCTSkip when no server is configured.
    static func create() async throws -> PostgresTestDatabase {
        guard let raw = ProcessInfo.processInfo.environment[variable], !raw.isEmpty else {
            throw XCTSkip("\(variable) is unset: the PostgreSQL store tests need a server (scripts/test.sh starts one with scripts/postgres.sh)")
        }
        guard case .success(.postgres(let server)) = DatabaseLocation.parse(raw, password: nil) else {
            throw XCTSkip("\(variable) is not a postgres:// URL")
        }
        var location = server
        location.database = "fjmcp_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let database = PostgresTestDatabase(server: server, location: location)
        try await database.admin("CREATE DATABASE \(unescaped: location.database)")
        return database
    }

    /// Drops the database, closing whatever connections are left on it.
    func drop() async throws {
        try await admin("DROP DATABASE IF EXISTS \(unescaped: location.database) WITH (FORCE)")
    }

    /// Runs one statement on the server's own database (CREATE/DROP DATABASE cannot run inside the
    /// database they name). The name is generated above from hex digits only, never from input.
    private func admin(_ statement: PostgresQuery) async throws {
        let client = PostgresClient(configuration: try PostgresStore.makeConfiguration(server), backgroundLogger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(statement)
        }
    }
}
