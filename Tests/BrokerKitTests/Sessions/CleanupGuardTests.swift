import Synchronization
import XCTest

@testable import BrokerKit

/// The cleanup a streaming response needs even when its body never runs.
final class CleanupGuardTests: XCTestCase {
    private final class Counter: Sendable {
        let value = Mutex(0)
        func bump() { value.withLock { $0 += 1 } }
        var count: Int { value.withLock { $0 } }
    }

    func testRunsOnceWhenRunTwiceAndNotAgainWhenFreed() async {
        let counter = Counter()
        var cleanup: CleanupGuard? = CleanupGuard { counter.bump() }
        await cleanup?.run()
        await cleanup?.run()
        cleanup = nil
        try? await Task.sleep(for: .milliseconds(50))
        XCTAssertEqual(counter.count, 1)
    }

    func testRunsWhenFreedWithoutBeingRun() async {
        let counter = Counter()
        do {
            // What a response body closure that is never called does: it is dropped with the
            // response, and the guard it captured with it.
            let cleanup = CleanupGuard { counter.bump() }
            let body: @Sendable () async -> Void = { await cleanup.run() }
            _ = body
        }
        let ran = await eventually { counter.count == 1 }
        XCTAssertTrue(ran)
    }

    func testADismissedCleanupNeverRuns() async {
        let counter = Counter()
        var cleanup: CleanupGuard? = CleanupGuard { counter.bump() }
        cleanup?.dismiss()
        cleanup = nil
        try? await Task.sleep(for: .milliseconds(50))
        XCTAssertEqual(counter.count, 0)
    }
}
