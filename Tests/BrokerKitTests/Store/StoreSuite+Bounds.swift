import Foundation
import XCTest

@testable import BrokerKit

/// What anyone on the internet can make the store hold is bounded: pending authorizations per
/// browser and in total, dynamically registered clients that never obtained a grant.
extension StoreSuite {
    private func boundedPending(_ id: String, binding: String, at offset: TimeInterval = 0, lifetime: TimeInterval = 600) -> PendingAuthorizationRecord {
        PendingAuthorizationRecord(id: id, clientID: "c1", redirectURI: "https://c/cb", clientState: nil, codeChallenge: "ch",
                                   scope: "", resource: "r", browserBindingHash: binding,
                                   createdAt: now + offset, expiresAt: now + offset + lifetime)
    }

    private func boundedClient(_ id: String, createdAt offset: TimeInterval) -> ClientRecord {
        ClientRecord(clientID: id, kind: .dynamic, secretHash: nil, name: "Client", redirectURIs: ["https://c/cb"],
                     tokenEndpointAuthMethod: "none", metadataJSON: "{}", createdAt: now + offset)
    }

    func testPendingAuthorizationsAreBoundedPerBrowserAndInTotal() async throws {
        for index in 0..<15 {
            let inserted = try await store.insertPendingAuthorization(boundedPending("a\(index)", binding: "A", at: Double(index)),
                                                                      maxPerBrowser: 10, maxTotal: 25, now: now)
            XCTAssertTrue(inserted)
        }
        var count = try await store.pendingAuthorizationCount()
        XCTAssertEqual(count, 10, "one browser keeps its 10 newest")
        let oldest = try await store.pendingAuthorization(id: "a4")
        let newest = try await store.pendingAuthorization(id: "a14")
        XCTAssertNil(oldest)
        XCTAssertNotNil(newest)

        for index in 0..<15 {
            _ = try await store.insertPendingAuthorization(boundedPending("b\(index)", binding: "B\(index)"), maxPerBrowser: 10, maxTotal: 25, now: now)
        }
        count = try await store.pendingAuthorizationCount()
        XCTAssertEqual(count, 25, "the total bound refuses, it does not evict other browsers' requests")
        let refused = try await store.insertPendingAuthorization(boundedPending("late", binding: "C"), maxPerBrowser: 10, maxTotal: 25, now: now)
        XCTAssertFalse(refused)

        // Expired requests make room again.
        let later = now + 700
        let accepted = try await store.insertPendingAuthorization(boundedPending("after", binding: "C", at: 700), maxPerBrowser: 10,
                                                                  maxTotal: 25, now: later)
        XCTAssertTrue(accepted)
        count = try await store.pendingAuthorizationCount()
        XCTAssertEqual(count, 1)
    }

    func testGrantlessClientsAreCappedOldestFirstAndPurgedAfterTheirLifetime() async throws {
        try await store.upsertUser(UserRecord(id: 1, login: "alice", createdAt: now, updatedAt: now))
        try await store.insertClient(boundedClient("granted", createdAt: -100_000))
        _ = try await store.upsertGrant(userID: 1, clientID: "granted", scope: "", resource: "r", newID: "g", now: now)
        try await store.insertClient(boundedClient("signing-in", createdAt: -90_000))
        try await store.insertPendingAuthorization(PendingAuthorizationRecord(
            id: "p", clientID: "signing-in", redirectURI: "u", clientState: nil, codeChallenge: "c", scope: "", resource: "r",
            browserBindingHash: "b", createdAt: now, expiresAt: now + 600))
        var evicted = 0
        for index in 0..<8 {
            evicted += try await store.insertClient(boundedClient("d\(index)", createdAt: Double(index) - 88_000), maxGrantless: 5)
        }
        XCTAssertEqual(evicted, 4)
        for id in ["d0", "d1", "d2", "d3"] {
            let gone = try await store.client(id: id)
            XCTAssertNil(gone, "\(id): the oldest grantless clients are evicted first")
        }
        for id in ["granted", "signing-in", "d4", "d7"] {
            let kept = try await store.client(id: id)
            XCTAssertNotNil(kept, "\(id) is kept")
        }

        try await store.insertClient(boundedClient("fresh", createdAt: -10))
        let purged = try await store.deleteGrantlessClients(createdBefore: now - 86_400 + 1)
        XCTAssertEqual(purged, 4, "d4…d7 are older than a day; the granted, signing-in and fresh clients stay")
        let remaining = try await store.clientCount()
        XCTAssertEqual(remaining, 3)
    }
}
