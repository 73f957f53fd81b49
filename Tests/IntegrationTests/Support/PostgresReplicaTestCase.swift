import Foundation
import XCTest

/// A test case running `fjmcp-broker serve` replicas on a throwaway PostgreSQL database
/// (`PostgresReplicas`), stopped after each test; the replicas' logs are printed when it failed.
class PostgresReplicaTestCase: XCTestCase {
    private var replicas: PostgresReplicas?

    /// Starts `count` replicas with `settings` added to each one's environment.
    func startReplicas(_ count: Int, settings: [String: String] = [:]) async throws -> [ServedBroker] {
        let replicas = try PostgresReplicas()
        self.replicas = replicas
        return try await replicas.start(count, settings: settings)
    }

    /// One more replica on the started ones' database (see `PostgresReplicas.add`).
    func addReplica(address: String, port: Int) async throws -> ServedBroker {
        try await XCTUnwrap(replicas, "startReplicas first").add(address: address, port: port)
    }

    override func tearDown() async throws {
        if let run = testRun, run.failureCount + run.unexpectedExceptionCount > 0 {
            for broker in replicas?.brokers ?? [] {
                print("fjmcp-broker log of the failed test (last 6000 characters):\n" + String((broker.process?.stderr ?? "").suffix(6000)))
            }
        }
        try await replicas?.stop()
        try await super.tearDown()
    }
}
