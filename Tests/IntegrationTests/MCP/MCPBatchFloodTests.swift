import Foundation
import XCTest

/// A 2025-03-26 batch has no stream for side messages: while it waits for one answer, another
/// request's flood of notifications is dropped as it comes, never kept.
final class MCPBatchFloodTests: XCTestCase {
    func testABatchWaitingOnOneAnswerKeepsNoneOfAnotherRequestsFlood() async throws {
        let broker = try await MCPTestBroker.start(childOptions: ["--flood"])
        addTeardownBlock { await broker.stop() }
        var client = try await broker.client()
        _ = try await client.initialize(version: "2025-03-26")
        let flood = 32 << 20
        let batch = "[" + MCPTestClient.body(id: 1, method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 2000]]) + ","
            + MCPTestClient.body(id: 2, method: "tools/call", params: [
                "name": "flood", "arguments": ["bytes": flood], "_meta": ["progressToken": "batch"],
            ]) + "]"
        let baseline = try XCTUnwrap(ProcFS.residentBytes(getpid()))
        let sampler = Task {
            var peak = baseline
            while !Task.isCancelled {
                peak = max(peak, ProcFS.residentBytes(getpid()) ?? 0)
                try? await Task.sleep(for: .milliseconds(20))
            }
            return peak
        }
        let answered = try await client.post(batch)
        sampler.cancel()
        let growth = await sampler.value - baseline
        XCTAssertEqual(answered.status, 200, String(answered.body.prefix(300)))
        let replies = try XCTUnwrap((try? JSONSerialization.jsonObject(with: Data(answered.body.utf8))) as? [[String: Any]])
        XCTAssertEqual(Set(replies.compactMap { $0["id"] as? Int }), [1, 2])
        XCTAssertTrue(answered.body.contains("flooded"), "the flood ran to its end: \(answered.body.prefix(300))")
        XCTAssertLessThan(growth, flood / 2, "the broker kept the flood: +\(growth >> 20) MiB")
    }
}
