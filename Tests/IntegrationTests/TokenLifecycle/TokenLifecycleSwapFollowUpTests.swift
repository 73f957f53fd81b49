import BrokerKit
import Foundation
import XCTest

/// A refresh that lands while a child swap is still starting does not cancel that swap (with a
/// short Forgejo token lifetime every swap used to be cancelled by the next refresh, and none
/// ever completed): the swap completes, and one follow-up puts the newest token in place.
final class TokenLifecycleSwapFollowUpTests: XCTestCase {
    /// Past the 80 % refresh point of Forgejo's default 3600 s token.
    static let step = 3000

    func testANewerTokenDuringASlowSwapLetsItCompleteAndFollowsUpOnce() async throws {
        // Every child takes 800 ms to answer `initialize`: a swap is "starting" for that long.
        let broker = try await TokenLifecycleBroker.start(environment: [
            "FJMCP_CHILD_COMMAND": MCPDemo.path + " --slow-start 800",
        ])
        addTeardownBlock { await broker.stop() }
        var (client, _) = try await broker.login()
        let initialized = try await client.initialize()
        XCTAssertEqual(initialized.status, 200, initialized.body)
        let first = try await client.whoami()
        let original = try XCTUnwrap(first)
        let metrics = MetricsSnapshot.take()

        await broker.advanceClocks(seconds: Self.step)
        let refreshed = await eventually { await broker.refreshes() == 1 }
        XCTAssertTrue(refreshed, "the scheduled refresh did not happen")
        // The swap to the first new token has fetched it and is waiting for its slow child.
        try await Task.sleep(for: .milliseconds(200))
        await broker.advanceClocks(seconds: Self.step)
        let refreshedAgain = await eventually { await broker.refreshes() == 2 }
        XCTAssertTrue(refreshedAgain, "the second refresh did not happen")

        let settled = await eventually(timeout: .seconds(20)) {
            MetricsSnapshot.take().delta(#"fjmcp_child_swaps_total{outcome="swapped"}"#, since: metrics) >= 2
        }
        XCTAssertTrue(settled, "the running swap and its follow-up did not both complete")
        let now = MetricsSnapshot.take()
        XCTAssertEqual(now.delta(#"fjmcp_child_swaps_total{outcome="swapped"}"#, since: metrics), 2,
                       "the interrupted swap completed, and exactly one follow-up ran")
        XCTAssertEqual(now.delta(#"fjmcp_child_swaps_total{outcome="failed"}"#, since: metrics), 0,
                       "no swap was cut off by the newer token")
        let last = try await client.whoami()
        let current = try XCTUnwrap(last, "the session must still answer")
        XCTAssertNotEqual(current.fingerprint, original.fingerprint)
        XCTAssertNotEqual(current.pid, original.pid)
        let refreshes = await broker.refreshes()
        XCTAssertEqual(refreshes, 2, "the swaps themselves caused no refresh")
    }
}
