import NIOCore
import XCTest

@testable import BrokerKit

/// The stdout splitter's decision to close the pipe after a line over the limit: only once the
/// child's group was killed, so a child still writing dies of the kill and not of SIGPIPE.
final class ChildStdoutLinesTests: XCTestCase {
    /// A process group that cannot exist (above any pid_max): the kill is a harmless ESRCH.
    private let absentGroup = pid_t.max

    private func lines(delivered: LineCollector) -> ChildStdoutLines {
        ChildStdoutLines(maxLine: 16, garbageRateLimit: LogRateLimit(burst: 1, perSecond: 1), logger: LogCapture().logger) {
            delivered.append($0)
        }
    }

    func testALongLineBeforeThePidIsKnownKeepsThePipeOpenUntilAttachKills() {
        let delivered = LineCollector()
        let lines = lines(delivered: delivered)
        XCTAssertTrue(lines.feed(ByteBuffer(string: "{\"a\":1}\n{\"b\":\"" + String(repeating: "x", count: 32))),
                      "no kill was sent yet: closing now would let SIGPIPE end the child")
        XCTAssertTrue(lines.sawLineTooLong)
        XCTAssertTrue(lines.feed(ByteBuffer(string: "\"}\n{\"c\":3}\n")), "still open, and what follows is dropped")
        lines.attach(pid: absentGroup)
        XCTAssertFalse(lines.feed(ByteBuffer(string: "{\"d\":4}\n")), "killed: the pipe may close")
        lines.finish()
        XCTAssertEqual(delivered.strings, [#"{"a":1}"#], "only the lines before the long one")
    }

    func testALongLineOnceThePidIsKnownClosesThePipeAtOnce() {
        let delivered = LineCollector()
        let lines = lines(delivered: delivered)
        lines.attach(pid: absentGroup)
        XCTAssertTrue(lines.feed(ByteBuffer(string: "{\"a\":1}\n")))
        XCTAssertFalse(lines.feed(ByteBuffer(string: String(repeating: "x", count: 32))))
        XCTAssertEqual(delivered.strings, [#"{"a":1}"#])
    }
}
