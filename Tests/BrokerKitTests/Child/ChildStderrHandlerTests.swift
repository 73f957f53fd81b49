import NIOCore
import NIOPosix
import XCTest

@testable import BrokerKit

#if canImport(Glibc)
import Glibc
#endif

/// The child's stderr as the broker logs it, read from a real pipe by `ChildStderrHandler`.
final class ChildStderrHandlerTests: XCTestCase {
    /// Writes `text` into a pipe read by the handler, closes it, and returns once the channel
    /// has ended (the handler has seen everything).
    private func logged(_ text: String, burst: Int = 50) async throws -> [String] {
        let logs = LogCapture()
        let settings = ChildStderrHandler.Settings(rateLimit: LogRateLimit(burst: burst, perSecond: 1),
                                                   redactor: ChildStderrRedactor(secrets: ["s3cret-token-value"]), logger: logs.logger)
        var fds: [CInt] = [-1, -1]
        XCTAssertEqual(pipe(&fds), 0)
        let channel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(settings.handler()) }
        }.takingOwnershipOfDescriptor(input: fds[0]).get()
        let bytes = Array(text.utf8)
        XCTAssertEqual(bytes.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }, bytes.count)
        close(fds[1])
        try await channel.closeFuture.get()
        return logs.messages
    }

    func testLinesAreLoggedRedactedAndAnUnterminatedLastLineStillCounts() async throws {
        let messages = try await logged("starting\ntoken is s3cret-token-value\nlast words")
        XCTAssertEqual(messages, ["starting", "token is [redacted]", "last words"])
    }

    func testLinesBeyondTheRateLimitAreCountedOnceTheStreamEnds() async throws {
        let messages = try await logged((1...10).map { "line \($0)\n" }.joined(), burst: 3)
        XCTAssertEqual(messages, ["line 1", "line 2", "line 3", "suppressed 7 child stderr lines"])
    }

    func testALongLineIsCutAtTheLimit() async throws {
        let messages = try await logged(String(repeating: "x", count: ChildStderrHandler.maxLine * 2) + "\nnext\n")
        XCTAssertEqual(messages.count, 2, "the cut tail is not a line of its own")
        XCTAssertEqual(messages.first?.count, ChildStderrHandler.maxLine)
        XCTAssertEqual(messages.last, "next")
    }
}
