import Foundation
import XCTest

/// A child that floods notifications at a client that never reads its response stream, against
/// the served binary: the broker's memory stays within `rssBound` of its baseline (the call's
/// buffer is `FJMCP_MAX_BUFFERED_EVENT_BYTES`, 4 MiB), the call ends with a JSON-RPC error, and
/// the same session answers the next call.
final class MCPFloodBinaryTests: XCTestCase {
    /// The documented bound on the broker's growth while one call floods (docs/design.md).
    static let rssBound = 64 << 20
    /// What the child is asked to write: more than the broker could ever hold.
    static let floodBytes = 1 << 30
    /// Enough flowing through the broker to prove the bound: a broker that kept what it could
    /// not deliver would have grown past `rssBound` by then (the debug build parses ~20 MB/s,
    /// so this takes seconds). The test stops watching there; the hostile child goes on until
    /// its session ends.
    static let provenAfter = rssBound + (32 << 20)

    private var broker: ServedBroker!

    override func tearDown() async throws {
        await broker?.shutdown()
    }

    private func start() async throws {
        broker = try await ServedBroker.start(environment: ["FJMCP_CHILD_COMMAND": MCPDemo.path + " --flood"])
    }

    func testAFloodIntoAStreamNobodyReadsKeepsTheBrokerBoundedAndEndsOnlyThatCall() async throws {
        try await start()
        var (client, _) = try await broker.client()
        _ = try await client.initialize()
        let whoami = try await client.tool(id: 1, "whoami")
        let childPID = try XCTUnwrap(whoami.structured?["pid"] as? Int, whoami.body)
        let brokerPID = try XCTUnwrap(broker.process?.process.processIdentifier)

        let body = MCPTestClient.json([
            "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": ["name": "flood", "arguments": ["bytes": Self.floodBytes, "ignoreCancel": true],
                       "_meta": ["progressToken": "flood"]] as [String: Any],
        ])
        let watch = try await flood(body, headers: Self.headers(client), brokerPID: brokerPID, childPID: Int32(childPID))
        await Self.assertBoundedAndEnded(watch, era: "2025-11-25")

        let echo = try await client.tool(id: 8, "echo", ["text": "after the flood"])
        XCTAssertEqual(echo.structured?["text"] as? String, "after the flood", echo.body)
        let again = try await client.tool(id: 9, "whoami")
        XCTAssertEqual(again.structured?["pid"] as? Int, childPID, "the session kept its child")
    }

    func testAModernCallFloodingAReaderThatNeverReadsEndsWithAnErrorAndTheUserChildGoesOn() async throws {
        try await start()
        let (client, _) = try await broker.client()
        let whoami = try await client.modern(id: 1, method: "tools/call", params: ["name": "whoami", "arguments": [:]])
        let childPID = try XCTUnwrap(whoami.structured?["pid"] as? Int, whoami.body)
        let brokerPID = try XCTUnwrap(broker.process?.process.processIdentifier)

        let (body, fields) = ModernEraTests.request(
            id: 7, method: "tools/call", params: ["name": "flood", "arguments": ["bytes": Self.floodBytes, "ignoreCancel": true]],
            meta: ModernEraTests.meta(extra: ["progressToken": "flood"]))
        let watch = try await flood(body, headers: Self.headers(client) + fields, brokerPID: brokerPID, childPID: Int32(childPID))
        await Self.assertBoundedAndEnded(watch, era: "2026-07-28")

        let echo = try await client.modern(id: 8, method: "tools/call", params: ["name": "echo", "arguments": ["text": "after"]])
        XCTAssertEqual(echo.structured?["text"] as? String, "after", echo.body)
    }

    /// From the error that ends a call whose reader fell behind.
    static let overflowWords = "faster than the client read them"

    struct Watch {
        let connection: ResettingConnection
        let baseline: Int
        let growth: Int
        let childWrote: Int
        let elapsed: Duration
    }

    /// The broker stayed within `rssBound` while enough flowed to prove it, and the unread stream
    /// ends with the overflow error once it is read.
    private static func assertBoundedAndEnded(_ watch: Watch, era: String, file: StaticString = #filePath, line: UInt = #line) async {
        print("flood (\(era)): broker VmRSS \(watch.baseline >> 10) KiB before, at most +\(watch.growth >> 10) KiB "
              + "while the child wrote \(watch.childWrote >> 20) MiB in \(watch.elapsed)")
        XCTAssertGreaterThanOrEqual(watch.childWrote, provenAfter, "the child did not flood (\(watch.childWrote) bytes)", file: file, line: line)
        XCTAssertLessThan(watch.growth, rssBound, "broker RSS grew by \(watch.growth >> 20) MiB", file: file, line: line)
        let ending = await watch.connection.receive(until: overflowWords, timeout: .seconds(30))
        XCTAssertTrue(ending.contains("-32603") && ending.contains(overflowWords), String(ending.suffix(400)), file: file, line: line)
        watch.connection.reset()
    }

    /// The headers `MCPTestClient` sends with a POST.
    private static func headers(_ client: MCPTestClient) -> [(String, String)] {
        var fields = [("Authorization", "Bearer \(client.accessToken)"), ("Content-Type", "application/json"),
                      ("Accept", "application/json, text/event-stream")]
        if let session = client.sessionID { fields.append(("Mcp-Session-Id", session)) }
        if let version = client.protocolVersion { fields.append(("MCP-Protocol-Version", version)) }
        return fields
    }

    /// POSTs `body` on a connection that reads nothing and samples the broker's RSS until the
    /// child has written `provenAfter` bytes (or 60 s pass).
    private func flood(_ body: String, headers: [(String, String)], brokerPID: Int32, childPID: Int32) async throws -> Watch {
        let baseline = try XCTUnwrap(ProcFS.residentBytes(brokerPID))
        let wroteBefore = ProcFS.writtenBytes(childPID) ?? 0
        let connection = try ResettingConnection(port: broker.port)
        try connection.post(host: "127.0.0.1:\(broker.port)", headers: headers, body: body)
        let started = ContinuousClock.now
        var peak = baseline
        var wrote = 0
        while ContinuousClock.now - started < .seconds(60) {
            try await Task.sleep(for: .milliseconds(20))
            peak = max(peak, ProcFS.residentBytes(brokerPID) ?? 0)
            wrote = (ProcFS.writtenBytes(childPID) ?? 0) - wroteBefore
            if wrote >= Self.provenAfter { break }
        }
        return Watch(connection: connection, baseline: baseline, growth: peak - baseline, childWrote: wrote,
                     elapsed: ContinuousClock.now - started)
    }
}

/// What Linux says about a process (same user): resident memory and bytes written.
enum ProcFS {
    /// `VmRSS` of /proc/PID/status, in bytes.
    static func residentBytes(_ pid: Int32) -> Int? {
        field("VmRSS:", in: "/proc/\(pid)/status").map { $0 * 1024 }
    }

    /// `wchar` of /proc/PID/io: bytes the process passed to write(2), pipes included.
    static func writtenBytes(_ pid: Int32) -> Int? {
        field("wchar:", in: "/proc/\(pid)/io")
    }

    private static func field(_ name: String, in path: String) -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name) })
        else { return nil }
        return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
    }
}
