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

/// Asks the kernel for a free loopback port. The port is released before use, so a race with
/// another process is possible but harmless for these tests (they would fail loudly, not hang).
enum FreePort {
    static func pick() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
