import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import XCTest

@testable import BrokerKit

/// The admin endpoints while the database does not answer: `/sessions` (this replica's own
/// children, no database) still lists, `/replicas` and a revocation are a 503 that says what
/// failed, and the failed revocation ended, revoked and forgot nothing; with the database back
/// the same requests do their work.
final class AdminRouterTests: ReplicaBedTestCase {

    /// As the admin commands read the answers (dates in ISO 8601).
    private static let decoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    private func admin(_ host: ChildHost, store: any BrokerStore, placement: ChildPlacement?) throws -> some ApplicationProtocol {
        let admin = AdminServer(host: host, bearer: BearerAuthenticator(config: try bed.config(), store: store), store: store,
                                logger: Logger(label: "admin-router-test"), placement: placement)
        return Application(router: admin.router())
    }

    func testEachEndpointAnswersAClearStatusWhileTheDatabaseIsDownAndLosesNothing() async throws {
        let (host, placement) = try bed.replica()
        let id = try await bed.open(host)
        let records = try XCTUnwrap(bed.records)
        // The broker's view of a database that does not answer: its connections are gone.
        let down = try SQLiteStore(path: bed.databasePath)
        try down.close()
        await bed.replicas.setFailing(true)

        try await admin(host, store: down, placement: placement).test(.router) { client in
            try await client.execute(uri: "/sessions", method: .get) { response in
                XCTAssertEqual(response.status, .ok, "this replica's own children need no database")
                let listed = try Self.decoder.decode([ChildSummary].self, from: Data(buffer: response.body))
                XCTAssertEqual(listed.map(\.sessionID), [id])
            }
            try await client.execute(uri: "/replicas", method: .get) { response in
                XCTAssertEqual(response.status, .serviceUnavailable)
                XCTAssertTrue(String(buffer: response.body).contains("could not list the replicas' sessions: the broker's database did not answer"))
            }
            try await client.execute(uri: "/users/alice/revoke", method: .post) { response in
                XCTAssertEqual(response.status, .serviceUnavailable)
                XCTAssertTrue(String(buffer: response.body).contains("could not revoke the user: the broker's database did not answer"))
            }
        }
        let sessions = await host.sessionCount
        XCTAssertEqual(sessions, 1, "the failed revocation ended no child")
        let (grants, record) = (try await records.activeGrants(userID: bed.owner.userID), try await records.liveSession(idHash: TokenHasher.hash(id)))
        XCTAssertEqual(grants.map(\.id), ["g1"], "nor revoked a grant")
        XCTAssertNotNil(record, "nor ended a session record")

        // The session database answers, the replica store does not: still a 503, not a partial listing.
        let (replicas, userID) = (bed.replicas, bed.owner.userID)
        try await admin(host, store: records, placement: placement).test(.router) { client in
            try await client.execute(uri: "/replicas", method: .get) { response in
                XCTAssertEqual(response.status, .serviceUnavailable)
            }
            await replicas.setFailing(false)
            try await client.execute(uri: "/replicas", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                let listing = try Self.decoder.decode(AdminReplicaListing.self, from: Data(buffer: response.body))
                XCTAssertEqual(listing.children.map(\.userID), [userID])
            }
            try await client.execute(uri: "/users/alice/revoke", method: .post) { response in
                XCTAssertEqual(response.status, .ok)
                let revocation = try Self.decoder.decode(AdminRevocation.self, from: Data(buffer: response.body))
                XCTAssertEqual(revocation, AdminRevocation(user: "alice", sessionsEnded: 1, userChildrenEnded: 0, grantsRevoked: 1))
            }
        }
    }
}
