import BrokerKit
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

    private static func replies(_ reply: MCPReply) throws -> [Int: [String: Any]] {
        let array = try XCTUnwrap((try? JSONSerialization.jsonObject(with: Data(reply.body.utf8))) as? [[String: Any]], reply.body)
        return Dictionary(array.compactMap { element in (element["id"] as? Int).map { ($0, element) } }) { first, _ in first }
    }

    /// The answers wait together for the array: past FJMCP_MAX_BUFFERED_EVENT_BYTES an element
    /// is answered with -32603 in the array instead of being held.
    func testBatchAnswersPastTheBufferBoundAreErrorsInTheArray() async throws {
        let broker = try await MCPTestBroker.start(environment: ["FJMCP_MAX_BUFFERED_EVENT_BYTES": "65536"])
        addTeardownBlock { await broker.stop() }
        var client = try await broker.client()
        _ = try await client.initialize(version: "2025-03-26")
        let text = String(repeating: "x", count: 40 << 10)
        let batch = "[" + (1...3).map { MCPTestClient.body(id: $0, method: "tools/call", params: ["name": "echo", "arguments": ["text": text]]) }
            .joined(separator: ",") + "]"
        let answered = try await client.post(batch)
        XCTAssertEqual(answered.status, 200, String(answered.body.prefix(300)))
        let replies = try Self.replies(answered)
        XCTAssertEqual(Set(replies.keys), [1, 2, 3])
        let results = replies.values.filter { $0["result"] != nil }
        let errors = replies.values.compactMap { $0["error"] as? [String: Any] }
        XCTAssertEqual(results.count, 1, "one answer fits the bound (\(text.count * 2) bytes would not)")
        XCTAssertEqual(errors.count, 2)
        for error in errors {
            XCTAssertEqual(error["code"] as? Int, -32603)
            XCTAssertTrue((error["message"] as? String ?? "").contains("more than 65536 bytes"), "\(error)")
        }
    }

    /// A batch request the child cannot take (it is busy and not reading its input) gets its
    /// own error in the array and a not-delivered record; the child and its other calls go on.
    func testABatchRequestThatCouldNotBeSentIsAnsweredInTheArray() async throws {
        let audit = try StoreAuditTrail.start()
        addTeardownBlock { audit.stop() }
        let broker = try await MCPTestBroker.start(childOptions: ["--serial"], audit: audit.trail)
        addTeardownBlock { await broker.stop() }
        var client = try await broker.client()
        _ = try await client.initialize(version: "2025-03-26")
        let busy = client
        let sleeping = Task { try await busy.tool(id: 1, "sleep", ["ms": 4000]) }
        // Four ~900 KiB requests wait for the busy child: 3.6 MiB of its 4 MiB input bound.
        let pad = String(repeating: "x", count: 900 << 10)
        let waiting = Task {
            try await withThrowingTaskGroup(of: MCPReply.self) { group in
                for id in 2...5 { group.addTask { try await busy.tool(id: id, "whoami", ["pad": pad]) } }
                return try await group.reduce(into: [MCPReply]()) { $0.append($1) }
            }
        }
        let queued = await eventually { await broker.host.pendingRequests(userID: 101) == 5 }
        XCTAssertTrue(queued, "the long call and four requests are with the child")
        let batch = "[" + MCPTestClient.body(id: 6, method: "tools/call", params: ["name": "whoami", "arguments": ["pad": String(pad.prefix(600 << 10))]]) + "]"
        let answered = try await client.post(batch)
        XCTAssertEqual(answered.status, 200, String(answered.body.prefix(300)))
        let error = try XCTUnwrap(try Self.replies(answered)[6]?["error"] as? [String: Any], answered.body)
        XCTAssertEqual(error["code"] as? Int, -32603)
        XCTAssertEqual(error["message"] as? String, "The MCP server is not reading its input; try again")
        func notDelivered() async -> [AuditRecord] {
            await audit.records { $0.event == .toolCall && $0.detail == "not_delivered" }
        }
        _ = await eventually { await !notDelivered().isEmpty }
        let records = await notDelivered()
        XCTAssertEqual(records.map(\.requestID), ["6"], "only the unsent element is not delivered")
        XCTAssertEqual(records.first?.outcome, "error")
        XCTAssertEqual(records.first?.tool, "whoami")
        let slept = try await sleeping.value
        XCTAssertEqual(slept.structured?["ms"] as? Int, 4000, String(slept.body.prefix(300)))
        let others = try await waiting.value
        XCTAssertEqual(others.map(\.status), [200, 200, 200, 200])
    }
}
