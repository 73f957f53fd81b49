import Foundation
import XCTest

@testable import BrokerKit

/// The demo child is test infrastructure for the whole team; these pin the behaviour others rely on.
final class DemoServerTests: XCTestCase {
    private var children: [ChildProcess] = []

    override func tearDown() async throws {
        for child in children { await child.stop() }
    }

    private func start(arguments: [String] = ["--no-forgejo-check"], environment: [String: String] = [:]) async throws
        -> (ChildProcess, LineCollector)
    {
        var spec = DemoBinary.spec(arguments, grace: .milliseconds(300))
        spec.environment.merge(environment) { _, new in new }
        let child = ChildProcess(spec: spec, sessionID: "s-demo", logger: LogCapture().logger)
        let lines = LineCollector()
        _ = try await child.start { lines.append($0) }
        children.append(child)
        return (child, lines)
    }

    private func request(_ child: ChildProcess, _ lines: LineCollector, id: Int, _ body: String) async throws -> String? {
        try await child.send(Array(#"{"jsonrpc":"2.0","id":\#(id),\#(body)}"#.utf8))
        return await lines.line(containing: #""id":\#(id)"#)
    }

    func testVersionNegotiation() async throws {
        let (child, lines) = try await start()
        for (id, requested, expected) in [
            (1, "2024-11-05", "2024-11-05"), (2, "2025-03-26", "2025-03-26"), (3, "2025-11-25", "2025-11-25"),
            (4, "2026-07-28", "2025-11-25"),
        ] {
            let reply = try await request(
                child, lines, id: id, #""method":"initialize","params":{"protocolVersion":"\#(requested)"}"#)
            XCTAssertTrue(reply?.contains(#""protocolVersion":"\#(expected)""#) ?? false, reply ?? "none")
            XCTAssertTrue(reply?.contains(#""name":"fjmcp-demo""#) ?? false)
        }
    }

    func testErrorsFollowMCP() async throws {
        let (child, lines) = try await start()
        let unknownMethod = try await request(child, lines, id: 1, #""method":"server/discover""#)
        XCTAssertTrue(unknownMethod?.contains("-32601") ?? false)
        let unknownTool = try await request(child, lines, id: 2, #""method":"tools/call","params":{"name":"nope"}"#)
        XCTAssertTrue(unknownTool?.contains("-32602") ?? false)
        let badArguments = try await request(
            child, lines, id: 3, #""method":"tools/call","params":{"name":"echo","arguments":{}}"#)
        XCTAssertTrue(badArguments?.contains(#""isError":true"#) ?? false)
        try await child.send(Array("{not json".utf8))
        let parseError = await lines.line(containing: "-32700")
        XCTAssertNotNil(parseError)
        let tools = try await request(child, lines, id: 4, #""method":"tools/list""#)
        for name in ["whoami", "echo", "sleep", "progress", "ask", "crash"] {
            XCTAssertTrue(tools?.contains(#""name":"\#(name)""#) ?? false, name)
        }
    }

    func testWhoamiShowsAFingerprintNotTheToken() async throws {
        let (child, lines) = try await start(environment: ["FORGEJO_ACCESS_TOKEN": "secret-token-value"])
        let reply = try await request(child, lines, id: 1, #""method":"tools/call","params":{"name":"whoami"}"#)
        let text = try XCTUnwrap(reply)
        XCTAssertFalse(text.contains("secret-token-value"))
        let pid = await child.pid
        XCTAssertTrue(text.contains(#""pid":\#(pid ?? -1)"#), text)
        XCTAssertTrue(text.range(of: #""tokenFingerprint":"[0-9a-f]{12}""#, options: .regularExpression) != nil, text)
    }

    func testOptionsComeFromTheEnvironmentToo() async throws {
        let (child, lines) = try await start(arguments: [], environment: ["DEMO_MCP_OPTIONS": "--no-forgejo-check"])
        let reply = try await request(child, lines, id: 1, #""method":"ping""#)
        XCTAssertTrue(reply?.contains(#""result":{}"#) ?? false)
    }

    func testUnknownOptionExitsWithUsageError() async throws {
        let (child, _) = try await start(arguments: ["--no-forgejo-check", "--bogus"])
        let exit = await child.waitForExit()
        XCTAssertEqual(exit?.reason, .exited(2))
    }

    func testSlowStartDelaysTheFirstResponse() async throws {
        let started = ContinuousClock.now
        let (child, lines) = try await start(arguments: ["--no-forgejo-check", "--slow-start", "400"])
        _ = try await request(child, lines, id: 1, #""method":"ping""#)
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(400))
    }
}
