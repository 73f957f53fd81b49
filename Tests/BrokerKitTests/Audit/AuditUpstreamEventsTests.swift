import Foundation
import Logging
import XCTest

@testable import BrokerKit

/// Dead Forgejo grants reach the audit trail from the token manager's own announcement.
final class AuditUpstreamEventsTests: UpstreamTokenTestCase {
    func testADeathIsARefreshFailureRecordAndARefreshIsNothing() async throws {
        try await harness.login()
        let trail = AuditTrail(settings: AuditSettings(logPath: nil), store: harness.store, logger: Logger(label: "test"))
        let listener = AuditUpstreamEvents(manager: harness.makeManager(), trail: trail, store: harness.store)
        await listener.record(.refreshed(userID: userID, token: UpstreamAccessToken(userID: userID, token: "t", expiresAt: Date(), generation: 2)))
        await listener.record(.dead(userID: userID, reason: "upstream_grant_revoked"))
        await listener.record(.dead(userID: 999, reason: "upstream_refresh_token_reused"))
        await trail.flush()
        let records = try await harness.store.auditRecords(AuditQuery())
        XCTAssertEqual(records.map(\.event), [.refreshFailure, .refreshFailure])
        XCTAssertEqual(records.last?.user, "alice")
        XCTAssertEqual(records.last?.detail, "upstream_grant_revoked")
        XCTAssertEqual(records.last?.outcome, "dead")
        XCTAssertEqual(records.first?.user, "#999", "a user the store no longer knows is named by id")
    }
}
