import BrokerKit
import Foundation
import XCTest

/// Clients that reset their connection (RST) in the middle of a call, in both eras: before the
/// broker answered anything, while it waits within the JSON window, and during the SSE answer.
/// Whatever the moment, the lease on the child is released (the session becomes idle and
/// reapable, the user child is not pinned) and the call is cancelled on the child. The demo
/// child's `stats` tool tells what it received, finished and was told to cancel.
final class MCPConnectionResetTests: XCTestCase {
    private static var options: MCPEndpoint.Options {
        var options = MCPEndpoint.Options()
        options.jsonWindow = .milliseconds(100)
        options.keepAliveInterval = .seconds(1)
        return options
    }

    func testAResetAtEachMomentReleasesTheChildAndCancelsTheCallLegacy() async throws {
        try await resetAtEachMoment(.legacy)
    }

    func testAResetAtEachMomentReleasesTheChildAndCancelsTheCallModern() async throws {
        try await resetAtEachMoment(.modern)
    }

    func testAThousandResetCallsLeaveNothingBusyAndNothingUncancelledLegacy() async throws {
        try await thousandResets(.legacy)
    }

    func testAThousandResetCallsLeaveNothingBusyAndNothingUncancelledModern() async throws {
        try await thousandResets(.modern)
    }

    private func resetAtEachMoment(_ era: TestEra) async throws {
        let broker = try await MCPTestBroker.start(childOptions: ["--stats"], options: Self.options)
        addTeardownBlock { await broker.stop() }
        let client = try await era.ready(try await broker.client())
        _ = try await era.tool(client, id: 1, "echo", ["text": "warm up"])
        let before = try await era.childStats(client, id: 2)
        for (index, moment) in ResettingConnection.Moment.allCases.enumerated() {
            try await Self.reset(broker, client, era, id: 10 + index, at: moment)
            let released = await eventually { await broker.host.busyCount == 0 }
            XCTAssertTrue(released, "\(era) \(moment): the child is still leased")
        }
        try await assertEveryReceivedCallCancelled(client, era, since: before, atLeast: 2)
        if era == .legacy {
            let sessions = await broker.host.summaries()
            XCTAssertEqual(sessions.map(\.busy), [0], "the session is idle, so the reaper may end it")
        }
    }

    private func thousandResets(_ era: TestEra) async throws {
        // Abandoned calls are released a moment after their connection drops; the per-session
        // call bound is not what this test is about.
        let broker = try await MCPTestBroker.start(childOptions: ["--stats"], environment: ["FJMCP_MAX_CALLS_PER_SESSION": "100000"],
                                                   options: Self.options)
        addTeardownBlock { await broker.stop() }
        let client = try await era.ready(try await broker.client())
        let before = try await era.childStats(client, id: 2)
        let total = 1000
        let workers = 25
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    for index in stride(from: worker, to: total, by: workers) {
                        let moment = ResettingConnection.Moment.allCases[index % 3]
                        try await Self.reset(broker, client, era, id: 1000 + index, at: moment)
                    }
                }
            }
            try await group.waitForAll()
        }
        let released = await eventually(timeout: .seconds(20)) { await broker.host.busyCount == 0 }
        let busy = await broker.host.busyCount
        XCTAssertTrue(released, "\(busy) lease(s) still held after \(total) reset calls")
        try await assertEveryReceivedCallCancelled(client, era, since: before, atLeast: total / 2)
    }

    private static func reset(_ broker: MCPTestBroker, _ client: MCPTestClient, _ era: TestEra, id: Int,
                       at moment: ResettingConnection.Moment) async throws {
        let (body, headers) = era.toolCall(client, id: id, "sleep", ["ms": 600_000])
        let url = URLComponents(string: broker.baseURL)
        try await ResettingConnection.postAndReset(
            port: url?.port ?? 0, host: "127.0.0.1:\(url?.port ?? 0)", headers: headers, body: body, at: moment,
            jsonWindow: Self.options.jsonWindow)
    }

    /// Every tool call the child received since `before` was cancelled (none could finish: each
    /// sleeps ten minutes), so no child is left working for a client that went away.
    private func assertEveryReceivedCallCancelled(_ client: MCPTestClient, _ era: TestEra, since before: TestEra.ChildStats,
                                                  atLeast minimum: Int) async throws {
        var stats = before
        let settled = await eventually(timeout: .seconds(10)) {
            guard let now = try? await era.childStats(client, id: 99_998) else { return false }
            stats = now
            return now.received - before.received == now.cancelled - before.cancelled
        }
        let (received, cancelled) = (stats.received - before.received, stats.cancelled - before.cancelled)
        XCTAssertTrue(settled, "\(era): \(received) calls received, \(cancelled) cancelled")
        XCTAssertEqual(stats.finished, before.finished, "\(era): no call could have finished")
        XCTAssertGreaterThanOrEqual(received, minimum, "\(era): the resets did not exercise the broker")
    }
}
