import XCTest

@testable import BrokerKit

/// A child that stops reading its stdin pins at most `maxPendingStdinBytes` of writes.
final class ChildStdinBoundTests: XCTestCase {
    func testWritesToAChildThatNeverReadsAreRefusedPastTheBound() async throws {
        let child = ChildProcess(spec: ChildSpec(executable: "/bin/sleep", arguments: ["30"], stopGrace: .milliseconds(100)),
                                 sessionID: "s-stdin", logger: LogCapture().logger)
        _ = try await child.start { _ in }
        let line = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        // Each writer reports as it ends, so the test waits for what it expects instead of for
        // a time a loaded machine may not keep.
        let (ended, report) = AsyncStream<(ChildError?, ContinuousClock.Instant)>.makeStream()
        let writers = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        do throws(ChildError) {
                            try await child.send(line)
                            report.yield((nil, .now))
                        } catch {
                            report.yield((error, .now))
                        }
                    }
                }
            }
            report.finish()
        }
        // Three 1 MiB lines fit the 4 MiB bound (the pipe itself takes 64 KiB); the rest are
        // refused at once instead of waiting with their bytes.
        var outcomes: [(ChildError?, ContinuousClock.Instant)] = []
        var iterator = ended.makeAsyncIterator()
        while outcomes.count < 7, let outcome = await iterator.next() { outcomes.append(outcome) }
        let running = await child.exit
        XCTAssertNil(running, "a child that does not read is alive")
        let stoppedAt = ContinuousClock.now
        await child.stop()
        while let outcome = await iterator.next() { outcomes.append(outcome) }
        await writers.value
        XCTAssertEqual(outcomes.count, 10)
        XCTAssertFalse(outcomes.contains { $0.0 == nil }, "nothing completed: the child never read")
        let refused = outcomes.filter { $0.1 < stoppedAt }
        XCTAssertEqual(refused.count, 7, "refused at once, past the bound")
        XCTAssertTrue(refused.allSatisfy { $0.0 == .stdinFull }, "refused as full, not as gone: \(refused.map { $0.0 })")
        let waited = outcomes.filter { $0.1 >= stoppedAt }
        XCTAssertEqual(waited.count, 3, "waited for the pipe until the child was stopped")
        XCTAssertTrue(waited.allSatisfy { $0.0 == .notRunning }, "\(waited.map { $0.0 })")
        let started = ContinuousClock.now
        do {
            try await child.send(line)
            XCTFail("a stopped child takes nothing")
        } catch {
            XCTAssertEqual(error, .notRunning)
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1))
    }

    /// The bridge tells a busy child from a gone one: the request past the bound is refused as
    /// `.childBusy` (the caller answers it alone) while the child keeps running.
    func testTheBridgeRefusesARequestPastTheBoundAsBusyNotGone() async throws {
        let logs = LogCapture()
        let child = ChildProcess(spec: ChildSpec(executable: "/bin/sleep", arguments: ["30"], stopGrace: .milliseconds(100)),
                                 sessionID: "s-busy", logger: logs.logger)
        let bridge = ChildBridge(child: child, logger: logs.logger)
        try await bridge.start()
        addTeardownBlock { await bridge.stop() }
        let pad = String(repeating: "x", count: 1 << 20)
        let (outcomes, reported) = AsyncStream<BridgeError?>.makeStream()
        for id in 0..<5 {
            let request = try JSONRPCMessage(Array(#"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"pad":"\#(pad)"}}"#.utf8))
            Task {
                do throws(BridgeError) {
                    _ = try await bridge.send(request)
                    reported.yield(nil)
                } catch {
                    reported.yield(error)
                }
            }
        }
        // Three ~1 MiB requests fit the bound and wait for the pipe (until teardown stops the
        // child); the other two are refused at once.
        var refused: [BridgeError?] = []
        for await outcome in outcomes {
            refused.append(outcome)
            if refused.count == 2 { break }
        }
        XCTAssertEqual(refused, [.childBusy, .childBusy])
        let exit = await child.exit
        XCTAssertNil(exit, "the busy child still runs")
        let pending = bridge.pendingCount
        XCTAssertEqual(pending, 3, "the refused requests are not pending")
    }
}
