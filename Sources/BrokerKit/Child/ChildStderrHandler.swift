import Logging
import NIOCore

/// Child stderr is diagnostics of a process the broker does not control (forgejo-mcp logs
/// tool arguments at its default level): logged at debug, rate-limited, with the child's
/// credentials cut out first.
///
/// It is logged where its pipe is read, by this handler on the channel's event loop, rather than
/// by a task reading an async sequence: such a task, its group and its async channel cost every
/// idle session a few KB of task frames and buffers for a stream that is mostly silent. Nothing
/// paces the child's stderr any more; the rate limit bounds what reaches the log, and a line is
/// cut at `maxLine` bytes.
final class ChildStderrHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    static let maxLine = 8 * 1024

    /// What each child's handler is made from (made where the child's spec is known, the handler
    /// itself on the channel's loop).
    struct Settings: Sendable {
        let rateLimit: LogRateLimit
        let redactor: ChildStderrRedactor
        let logger: Logger

        func handler() -> ChildStderrHandler {
            ChildStderrHandler(rateLimit: rateLimit, redactor: redactor, logger: logger)
        }
    }

    private var splitter = LineSplitter(maxLine: ChildStderrHandler.maxLine, overflow: .truncate)
    private var limiter: LogRateLimiter
    private let redactor: ChildStderrRedactor
    private let logger: Logger
    private var lines: [[UInt8]] = []
    private var suppressed = 0

    init(rateLimit: LogRateLimit, redactor: ChildStderrRedactor, logger: Logger) {
        limiter = LogRateLimiter(rateLimit)
        self.redactor = redactor
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        unwrapInboundIn(data).withUnsafeReadableBytes { bytes in try? splitter.feed(bytes, into: &lines) }
        lines.forEach(log)
        lines.removeAll(keepingCapacity: true)
    }

    /// The pipe has ended (or was closed): an unterminated last line still counts, and what the
    /// limit dropped since the last logged line is said once.
    func channelInactive(context: ChannelHandlerContext) {
        if let rest = splitter.finish() { log(rest) }
        if suppressed > 0 { logger.notice("suppressed \(suppressed) child stderr lines") }
        suppressed = 0
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("child stderr ended with an error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    private func log(_ line: [UInt8]) {
        switch limiter.admit() {
        case .drop:
            suppressed += 1
        case .log(let before):
            if before > 0 { logger.notice("suppressed \(before) child stderr lines") }
            suppressed = 0
            logger.debug("\(redactor.redact(line))", metadata: ["stream": "stderr"])
        }
    }
}
