import Foundation
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
