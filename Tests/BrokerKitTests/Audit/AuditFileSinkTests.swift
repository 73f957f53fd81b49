import Foundation
import Synchronization
import XCTest

@testable import BrokerKit

/// The audit log file: never written through a symlink, always 0600.
final class AuditFileSinkTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("audit-sink-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func testASymlinkAtThePathIsRefusedAndItsTargetUntouched() throws {
        let target = directory.appendingPathComponent("elsewhere").path
        XCTAssertTrue(FileManager.default.createFile(atPath: target, contents: Data("keep\n".utf8)))
        let link = directory.appendingPathComponent("audit.jsonl").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        let sink = AuditFileSink(path: link)
        XCTAssertNotNil(sink.reopen(), "opening through a symlink fails")
        XCTAssertNotNil(sink.write(Array("record\n".utf8)))
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "keep\n")
    }

    func testAnExistingFileIsMadePrivate() throws {
        let path = directory.appendingPathComponent("audit.jsonl").path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(), attributes: [.posixPermissions: 0o644]))
        let sink = AuditFileSink(path: path)
        XCTAssertNil(sink.reopen())
        XCTAssertNil(sink.write(Array("record\n".utf8)))
        let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        XCTAssertEqual(mode & 0o777, 0o600)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "record\n")
    }
}

/// A FIFO (or any other non-regular file) as the audit log would block the broker at open
/// until someone reads it: refused at configuration and at every (re)open, without waiting.
final class AuditFileSinkFIFOTests: XCTestCase {
    private var directory: URL!
    private var fifo: String { directory.appendingPathComponent("audit.fifo").path }

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("audit-fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// The one line `check-config` and `serve` print before exiting with status 2.
    func testConfigurationRefusesAFIFO() {
        let environment = ["FJMCP_PUBLIC_URL": "https://mcp.example.org", "FORGEJO_URL": "https://forgejo.example.org",
                           "FORGEJO_CLIENT_ID": "id", "FORGEJO_CLIENT_SECRET": "secret", "FJMCP_AUDIT_LOG": fifo]
        XCTAssertThrowsError(try BrokerConfig.load(from: ConfigSource(environment: environment))) { error in
            XCTAssertEqual((error as? ConfigError)?.problems,
                           ["FJMCP_AUDIT_LOG=\(self.fifo): is not a regular file (a FIFO, socket or device would block or lose records)"])
        }
    }

    func testOpeningAFIFOWithoutAReaderFailsAtOnce() throws {
        let problem = try reopenWithoutBlocking()
        XCTAssertEqual(problem, "is not a regular file (a FIFO, socket or device would block or lose records)")
    }

    func testOpeningAFIFOWithAReaderIsRefusedToo() throws {
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        XCTAssertGreaterThanOrEqual(reader, 0)
        defer { close(reader) }
        let problem = try reopenWithoutBlocking()
        XCTAssertEqual(problem, "is not a regular file (a FIFO, socket or device would block or lose records)")
    }

    /// `AuditFileSink.reopen()` on another thread; should it block, a reader is opened to free
    /// it, so a regression fails this test instead of hanging the suite.
    private func reopenWithoutBlocking() throws -> String? {
        let path = fifo
        let outcome = Mutex<String??>(nil)
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let problem = AuditFileSink(path: path).reopen()
            outcome.withLock { $0 = .some(problem) }
            finished.signal()
        }
        if finished.wait(timeout: .now() + 10) == .timedOut {
            XCTFail("opening the FIFO blocked")
            let unblocker = open(path, O_RDONLY | O_NONBLOCK)
            finished.wait()
            close(unblocker)
        }
        return try XCTUnwrap(outcome.withLock { $0 })
    }
}
