import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

/// `fjmcp-broker demo` as a newcomer runs it: one command, no Forgejo.
final class DemoBinaryTests: XCTestCase {
    func testDemoStartsAndPrintsTheMCPURL() async throws {
        let port = try FreePort.pick()
        let demo = try ProductProcess("fjmcp-broker", arguments: ["demo", "--listen", "127.0.0.1:\(port)"], environment: [:])
        let url = try await demo.waitFor("the MCP URL banner") { process in
            process.stdout.split(separator: "\n").first { $0.contains("MCP URL:") }.map { String($0.split(separator: " ").last ?? "") }
        }
        XCTAssertEqual(url, "http://127.0.0.1:\(port)/mcp")
        XCTAssertTrue(demo.stdout.contains("demo / demo"))
        let (_, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/healthz")!)
        XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 200)
        demo.signal(SIGINT)
        let status = await demo.waitForExit(timeout: .seconds(5))
        XCTAssertEqual(status, 0, demo.stderr)
    }

    func testDemoWithPortInUseFailsClearly() async throws {
        let port = try FreePort.pick()
        let first = try ProductProcess("fjmcp-broker", arguments: ["demo", "--listen", "127.0.0.1:\(port)"], environment: [:])
        _ = try await first.waitFor("the banner") { $0.stdout.contains("MCP URL:") ? true : nil }
        let second = try ProductProcess("fjmcp-broker", arguments: ["demo", "--listen", "127.0.0.1:\(port)"], environment: [:])
        let status = await second.waitForExit(timeout: .seconds(10))
        XCTAssertEqual(status, 1)
        XCTAssertTrue(second.stderr.contains("cannot listen on 127.0.0.1:\(port): address already in use"), second.stderr)
        first.signal(SIGTERM)
        _ = await first.waitForExit(timeout: .seconds(5))
    }

    func testDemoWithUnwritableDataDirectoryFailsClearly() async throws {
        let file = NSTemporaryDirectory() + "fjmcp-not-a-dir-" + UUID().uuidString
        FileManager.default.createFile(atPath: file, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: file) }
        let demo = try ProductProcess("fjmcp-broker", arguments: ["demo", "--listen", "127.0.0.1:\(try FreePort.pick())", "--data-dir", file],
                                      environment: [:])
        let status = await demo.waitForExit(timeout: .seconds(10))
        XCTAssertEqual(status, 1)
        XCTAssertTrue(demo.stderr.contains("--data-dir \(file) is not a directory"), demo.stderr)
    }
}
