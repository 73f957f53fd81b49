import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The child's stdout as protocol lines, split where the pipe is read and handed on at once: a
/// `ChildStdoutHandler` on each stdout channel (the first one and those after pipe
/// moves) feeds every chunk here on that channel's event loop, so a line reaches `onMessage`
/// (the bridge) without a task, an async sequence or an executor hop. One channel reads at a
/// time (a move opens the next once the last has ended), so lines keep the child's order and a
/// partial line carries over. Nothing waits here: what piles up for a slow client is bounded by
/// the sink of the call it belongs to (`BufferBound`) or the bridge's server-stream bound.
/// Each line is parsed and routed on this loop, one line at a time (lines are bounded by
/// `maxLineBytes`).
final class ChildStdoutLines: Sendable {
    private struct State {
        var splitter: LineSplitter
        var garbageLog: LogRateLimiter
        var lines: [[UInt8]] = []
        var pid: pid_t?
        var tooLong = false
    }

    private let state: Mutex<State>
    private let onMessage: ChildProcess.MessageHandler
    let logger: Logger

    init(maxLine: Int, garbageRateLimit: LogRateLimit, logger: Logger, onMessage: @escaping ChildProcess.MessageHandler) {
        state = Mutex(State(splitter: LineSplitter(maxLine: maxLine, overflow: .fail), garbageLog: LogRateLimiter(garbageRateLimit)))
        self.onMessage = onMessage
        self.logger = logger
    }

    /// The child runs as `pid`; a line over the limit kills its group (also one read before this).
    /// The kill is sent under the lock: once `feed` sees the pid it may close the pipe, and a
    /// child still writing must not get there (and die of SIGPIPE) before the kill.
    func attach(pid: pid_t) {
        state.withLock { state in
            state.pid = pid
            if state.tooLong { kill(-pid, SIGKILL) }
        }
    }

    /// A line was over the limit: the child's group was killed and nothing more is delivered.
    var sawLineTooLong: Bool { state.withLock { $0.tooLong } }

    /// Delivers the complete lines in `chunk`; false once a line was over the limit and the
    /// child's group was killed, so the pipe may close (closed before the kill, a child still
    /// writing would die of SIGPIPE instead, and its exit would not say why). Before `attach`
    /// the pid is unknown: the pipe stays open, read and dropped, until `attach` kills.
    /// The lines before the long one still go.
    func feed(_ chunk: ByteBuffer) -> Bool {
        // `killing`: the group to kill, by the chunk that holds the line (`attach` kills it if
        // the pid was not known yet).
        let (lines, over, killing): ([[UInt8]], Bool, pid_t?) = state.withLock { state in
            guard !state.tooLong else { return ([], state.pid != nil, nil) }
            do {
                try chunk.withUnsafeReadableBytes { (bytes) throws(LineSplitter.LineTooLong) in
                    try state.splitter.feed(bytes, into: &state.lines)
                }
            } catch {
                state.tooLong = true
            }
            let lines = state.lines
            state.lines = []
            let killing = state.tooLong ? state.pid : nil
            return (lines, killing != nil, killing)
        }
        for line in lines { deliver(line) }
        if let killing { kill(-killing, SIGKILL) }
        return !over
    }

    /// The stdout has ended: an unterminated last line still counts.
    func finish() {
        guard let rest = state.withLock({ $0.tooLong ? nil : $0.splitter.finish() }) else { return }
        deliver(rest)
    }

    private func deliver(_ line: [UInt8]) {
        if Self.looksLikeJSON(line) {
            onMessage(line)
            return
        }
        guard line.contains(where: { !Self.isWhitespace($0) }) else { return }
        if case .log(let suppressed) = state.withLock({ $0.garbageLog.admit() }) {
            logger.warning(
                "dropped a non-JSON stdout line from the child",
                metadata: ["bytes": "\(line.count)", "suppressed_before": "\(suppressed)"])
        }
    }

    /// A cheap gate, not a parser: the bridge validates fully; this only keeps obvious
    /// non-protocol output (banners, panics printed to stdout) away from it.
    static func looksLikeJSON(_ line: [UInt8]) -> Bool {
        guard let first = line.first(where: { !isWhitespace($0) }),
            let last = line.last(where: { !isWhitespace($0) })
        else { return false }
        return (first == UInt8(ascii: "{") && last == UInt8(ascii: "}"))
            || (first == UInt8(ascii: "[") && last == UInt8(ascii: "]"))
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}

/// The handler of a stdout channel: hands every chunk the channel reads to the child's
/// `ChildStdoutLines`; a line over the limit (once the child was killed) or a read error closes
/// the channel, which is how the runner learns that it has ended.
final class ChildStdoutHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let lines: ChildStdoutLines

    init(_ lines: ChildStdoutLines) {
        self.lines = lines
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !lines.feed(unwrapInboundIn(data)) { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        lines.logger.debug("child stdout ended with an error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
