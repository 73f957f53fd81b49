import XCTest

@testable import BrokerKit

/// A child that stops reading its stdin pins at most `maxPendingStdinBytes` of writes.
final class ChildStdinBoundTests: XCTestCase {
    func testWritesToAChildThatNeverReadsAreRefusedPastTheBound() async throws {
        let child = ChildProcess(spec: ChildSpec(executable: "/bin/sleep", arguments: ["30"], stopGrace: .milliseconds(100)),
                                 sessionID: "s-stdin", logger: LogCapture().logger)
        _ = try await child.start { _ in }
        let line = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        let writers = Task {
            await withTaskGroup(of: (Bool, ContinuousClock.Instant).self) { group in
                for _ in 0..<10 { group.addTask { ((try? await child.send(line)) != nil, .now) } }
                return await group.reduce(into: [(Bool, ContinuousClock.Instant)]()) { $0.append($1) }
            }
        }
        // Three 1 MiB lines fit the 4 MiB bound (the pipe itself takes 64 KiB); the rest are
        // refused at once instead of waiting with their bytes.
        try await Task.sleep(for: .milliseconds(500))
        let stoppedAt = ContinuousClock.now
        await child.stop()
        let outcomes = await writers.value
        XCTAssertEqual(outcomes.count, 10)
        XCTAssertFalse(outcomes.contains { $0.0 }, "nothing completed: the child never read")
        XCTAssertEqual(outcomes.filter { $0.1 < stoppedAt }.count, 7, "refused at once, past the bound")
        XCTAssertEqual(outcomes.filter { $0.1 >= stoppedAt }.count, 3, "waited for the pipe until the child was stopped")
        let started = ContinuousClock.now
        do {
            try await child.send(line)
            XCTFail("a stopped child takes nothing")
        } catch {
            XCTAssertEqual(error, .notRunning)
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1))
    }
}
