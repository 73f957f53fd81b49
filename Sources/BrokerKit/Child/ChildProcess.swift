import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One supervised child: spawned in its own process group, fed whole lines on stdin, read line
/// by line on stdout, stopped with escalation. It knows nothing about JSON-RPC beyond dropping
/// lines that cannot be JSON; the bridge owns the protocol.
public actor ChildProcess {
    /// Receives each stdout line (without the newline) in order, on the event loop that read it,
    /// synchronously: it must only route the line (what it buffers is its own to bound).
    public typealias MessageHandler = @Sendable ([UInt8]) -> Void

    public nonisolated let spec: ChildSpec
    public nonisolated let sessionID: String
    private var logger: Logger
    private let exitLatch = Latch<ChildExit>()
    /// Callbacks for the exit (see `onExit`): stored closures instead of one parked waiting task
    /// per interested owner, which cost memory for every idle session.
    private nonisolated let exitHandlers = Mutex<ExitHandlers>(.waiting([]))

    enum ExitHandlers {
        case waiting([@Sendable (ChildExit) async -> Void])
        case exited(ChildExit)
    }
    public private(set) var pid: pid_t?
    /// The child's stdin pipe, set by the runner once the child runs (before `start` returns).
    private var stdin: ChildStdin?
    /// The child's stdout as the runner reads it (set with `stdin`), told when the pipes move.
    private var stdout: ChildStdout?
    /// Set once the runner has closed stdin (the child's stdout ended): no move reopens it.
    private var stdinClosed = false
    private let pipeMoves: ChildPipeMovePolicy
    /// The other event loop the last writes came from and how many came in a row (see `ChildPipeMovePolicy`).
    private var writerLoop: (any EventLoop)?
    private var writerStreak = 0
    private var lastMove: ContinuousClock.Instant?
    private var moving = false
    /// Set once `start()` hands the child to its runner; `stop()` waits on it for the pid.
    private var launch: Latch<Result<pid_t, ChildError>>?
    private var started = false
    private var stopRequested = false
    private var killedForLongLine = false
    /// Bytes handed to the stdin pipe whose write has not completed yet (see `send`).
    private var stdinPending = 0
    private var stdinStallLogged = false

    /// What may wait for a child that does not read its stdin. Each sender waits for its own
    /// write, so without a bound every concurrent request, notification and answer for a stalled
    /// child would stay in memory; past it a write is refused as if the child were gone.
    static let maxPendingStdinBytes = 4 << 20

    /// Writing to the stdin of a child that just died raises SIGPIPE, whose default action
    /// would kill the whole broker; with it ignored the write fails with EPIPE instead.
    private static let sigpipeIgnored: Void = {
        _ = signal(SIGPIPE, SIG_IGN)
    }()

    public init(spec: ChildSpec, sessionID: String, logger: Logger) {
        self.init(spec: spec, sessionID: sessionID, logger: logger, pipeMoves: .standard)
    }

    init(spec: ChildSpec, sessionID: String, logger: Logger, pipeMoves: ChildPipeMovePolicy) {
        self.spec = spec
        self.sessionID = sessionID
        self.pipeMoves = pipeMoves
        self.logger = logger
        self.logger[metadataKey: "session_id"] = .string(sessionID)
    }

    /// Spawns the child and returns its pid once it runs. A child that fails later (e.g. its
    /// token is rejected) shows up through `waitForExit()`.
    ///
    /// The launch itself is not abandoned on cancellation: the detached runner spawns the child
    /// regardless, so giving up early would leave a process holding the user's token that nobody
    /// owns. Instead the launch is awaited, and a cancelled caller gets the child killed (and
    /// reaped) before `start` throws. After `stop()` it throws `.notRunning` without spawning.
    public func start(onMessage: @escaping MessageHandler) async throws(ChildError) -> pid_t {
        guard !started else { throw .alreadyStarted }
        guard !stopRequested else { throw .notRunning }
        started = true
        _ = Self.sigpipeIgnored
        let executable: String
        do {
            executable = try ChildEnvironment.resolveExecutable(spec.executable, path: spec.environment["PATH"])
        } catch {
            await spawnFailed(error)
            throw error
        }
        let launched = Latch<Result<pid_t, ChildError>>()
        launch = launched
        let runner = ChildRunner(
            executable: executable, spec: spec, logger: logger, onMessage: onMessage, launched: launched, owner: self)
        Task.detached { await runner.run() }
        switch await launched.waitIgnoringCancellation() {
        case .success(let pid):
            self.pid = pid
            logger[metadataKey: "child_pid"] = .stringConvertible(pid)
            ChildMetrics.spawned()
            guard !Task.isCancelled else {
                // Nothing has been said to this child yet, so there is no graceful state to keep.
                logger.info("start cancelled; killing the new child")
                stopRequested = true
                stdin?.channel.close(promise: nil)
                kill(-pid, SIGKILL)
                _ = await exitLatch.waitIgnoringCancellation()
                throw .spawnFailed("cancelled while starting")
            }
            logger.info("child started", metadata: ["executable": .string(spec.executable)])
            return pid
        case .failure(let error):
            stdin = nil
            throw error
        }
    }

    /// Writes one message line; returns once the child's stdin pipe took it, which gives senders
    /// backpressure from a child that stops reading. The write goes straight to the pipe channel
    /// (in call order: the actor issues writes one after the other, NIO keeps their order).
    /// A child that has more than `maxPendingStdinBytes` waiting is not reading: the write is
    /// refused with `.stdinFull` (one message always gets through to a child with none waiting):
    /// the child is alive, only this message did not reach it.
    ///
    /// `loop` is the event loop the caller runs on (the default is read in the caller, before the
    /// hop to this actor): the pipes follow the loop their writes come from (`ChildPipeMovePolicy`).
    public func send(_ line: [UInt8], from loop: (any EventLoop)? = MultiThreadedEventLoopGroup.currentEventLoop)
        async throws(ChildError)
    {
        if let loop { await noteWrite(from: loop) }
        guard let stdin, !stopRequested else { throw .notRunning }
        let channel = stdin.channel
        let framed = Self.framed(line, allocator: channel.allocator)
        guard stdinPending == 0 || stdinPending + framed.readableBytes <= Self.maxPendingStdinBytes else {
            if !stdinStallLogged {
                stdinStallLogged = true
                logger.warning("child does not read its stdin; refusing writes while it is behind",
                               metadata: ["pending_bytes": "\(stdinPending)"])
            }
            throw .stdinFull
        }
        let count = framed.readableBytes
        stdinPending += count
        defer { stdinPending -= count }
        do {
            try await Self.write(framed, to: channel)
        } catch {
            throw .notRunning
        }
    }

    /// Writes and flushes `buffer`, returning once the pipe took it. On the channel's own loop
    /// (where a session's writes come from once its pipes followed them) a pipe with room takes
    /// the write before `writeAndFlush` returns: the outcome is read at once, without suspending
    /// on the future, which would cost a job on the loop per request.
    private static func write(_ buffer: ByteBuffer, to channel: any Channel) async throws {
        guard channel.eventLoop.inEventLoop else {
            return try await channel.writeAndFlush(buffer).get()
        }
        let (written, future) = writeOnLoop(buffer, to: channel)
        if let written { return try written.get() }
        try await future.get()
    }

    /// The write's outcome if the pipe took (or refused) it at once, and its future either way.
    private static func writeOnLoop(_ buffer: ByteBuffer, to channel: any Channel) -> (Result<Void, any Error>?, EventLoopFuture<Void>) {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(buffer, promise: promise)
        var outcome: Result<Void, any Error>?
        // Runs inline when the future is already complete (we are on its loop).
        promise.futureResult.assumeIsolated().whenComplete { outcome = $0 }
        return (outcome, promise.futureResult)
    }

    /// Counts writes from one other event loop in a row and, at `pipeMoves.streak` with no write
    /// pending, moves stdin and stdout to that loop. The new stdin channel replaces the old one only
    /// if still no write is pending after it is made (sends go on meanwhile, on the old one).
    private func noteWrite(from loop: any EventLoop) async {
        guard let current = stdin, loop !== current.channel.eventLoop else {
            writerStreak = 0
            return
        }
        if writerLoop !== loop {
            writerLoop = loop
            writerStreak = 0
        }
        writerStreak += 1
        guard writerStreak >= pipeMoves.streak, !moving, stdinPending == 0 else { return }
        if let lastMove, ContinuousClock.now - lastMove < pipeMoves.interval { return }
        moving = true
        defer { moving = false }
        lastMove = .now
        writerStreak = 0
        guard let moved = await current.duplicate(on: loop) else { return }
        guard stdin?.channel === current.channel, stdinPending == 0, !stopRequested, !stdinClosed else {
            moved.channel.close(promise: nil)
            return
        }
        stdin = moved
        current.channel.close(promise: nil)
        stdout?.move(to: loop)
        logger.debug("child pipes moved to the event loop of their writer")
    }

    /// The event loop the child's stdin channel is on (tests).
    var stdinLoop: (any EventLoop)? { stdin?.channel.eventLoop }

    /// Called by the runner with the child's stdin and stdout once the child runs.
    func attachPipes(stdin: ChildStdin, stdout: ChildStdout) {
        self.stdin = stdin
        self.stdout = stdout
        if stopRequested { stdin.channel.close(promise: nil) }
    }

    /// Called by the runner when the child's stdout has ended: a child that will not answer any
    /// more gets stdin EOF too.
    func closeStdin() {
        stdinClosed = true
        stdin?.channel.close(promise: nil)
    }

    /// `line` plus the terminating `\n`, with every CR/LF inside it turned into a space. MCP
    /// stdio allows no embedded newline, yet a forwarded HTTP body may be pretty-printed or
    /// CRLF-terminated; raw CR/LF can only sit between JSON tokens (inside strings they must be
    /// escaped), where a space means the same. The common case has none and is copied once.
    static func framed(_ line: [UInt8], allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var framed = allocator.buffer(capacity: line.count + 1)
        framed.writeBytes(line)
        framed.writeInteger(UInt8(0x0A))
        if let firstBreak = line.firstIndex(where: isLineBreak) {
            for index in firstBreak..<line.count where isLineBreak(line[index]) {
                framed.setInteger(UInt8(0x20), at: index)
            }
        }
        return framed
    }

    private static func isLineBreak(_ byte: UInt8) -> Bool {
        byte == 0x0A || byte == 0x0D
    }

    /// Shutdown per the MCP lifecycle: stdin EOF, then SIGTERM, then SIGKILL, each step
    /// `spec.stopGrace` apart, always to the whole process group. A `start()` still launching
    /// is waited for first, since only then is there a pid to signal. Returns only once the
    /// child is gone; a cancelled caller merely skips the graces.
    @discardableResult
    public func stop() async -> ChildExit {
        if let exit = await exitLatch.current { return exit }
        stopRequested = true
        stdin?.channel.close(promise: nil)
        guard let launch else {
            // Never launched: either start() was not called, or its executable lookup failed
            // and settles the exit itself.
            if !started { await settleExit(ChildExit(reason: .stoppedByBroker, status: nil)) }
            return await exitLatch.waitIgnoringCancellation()
        }
        guard case .success(let pid) = await launch.waitIgnoringCancellation() else {
            return await exitLatch.waitIgnoringCancellation()
        }
        if let exit = await exitLatch.wait(timeout: spec.stopGrace) { return exit }
        logger.notice("child ignored stdin EOF, sending SIGTERM")
        kill(-pid, SIGTERM)
        if let exit = await exitLatch.wait(timeout: spec.stopGrace) { return exit }
        logger.warning("child ignored SIGTERM, sending SIGKILL")
        kill(-pid, SIGKILL)
        return await exitLatch.waitIgnoringCancellation()
    }

    /// Resolves when the child is gone (nil only if the waiting task is cancelled), so the
    /// owner can fail whatever was still waiting on it.
    public nonisolated func waitForExit() async -> ChildExit? {
        await exitLatch.wait()
    }

    /// Runs `handler` (in a task of its own) once the child is gone, or right away if it already
    /// is. Unlike `waitForExit()` nothing waits in the meantime: an idle session's owners keep
    /// a closure here rather than a suspended task each.
    public nonisolated func onExit(_ handler: @escaping @Sendable (ChildExit) async -> Void) {
        let settled: ChildExit? = exitHandlers.withLock { state in
            switch state {
            case .waiting(var handlers):
                handlers.append(handler)
                state = .waiting(handlers)
                return nil
            case .exited(let exit):
                return exit
            }
        }
        if let settled { Task { await handler(settled) } }
    }

    /// Every exit goes through here: the latch for waiters, then the `onExit` handlers.
    private func settleExit(_ exit: ChildExit) async {
        await exitLatch.resolve(exit)
        let handlers: [@Sendable (ChildExit) async -> Void] = exitHandlers.withLock { state in
            guard case .waiting(let handlers) = state else { return [] }
            state = .exited(exit)
            return handlers
        }
        for handler in handlers { Task { await handler(exit) } }
    }

    /// The exit, if the child has already ended.
    public nonisolated var exit: ChildExit? {
        get async { await exitLatch.current }
    }

    func noteLongLine() {
        killedForLongLine = true
        logger.error("child wrote a stdout line over the limit; killing it", metadata: ["limit": "\(spec.maxLineBytes)"])
    }

    func didExit(_ status: ChildExit.Status?) async {
        stdin?.channel.close(promise: nil)
        let reason: ChildExit.Reason
        if killedForLongLine {
            reason = .lineTooLong
        } else if stopRequested {
            reason = .stoppedByBroker
        } else {
            switch status {
            case .exited(let code): reason = .exited(code)
            case .signaled(let signal): reason = .signaled(signal)
            case nil: reason = .signaled(SIGKILL)
            }
        }
        let exit = ChildExit(reason: reason, status: status)
        ChildMetrics.exited(reason)
        if reason == .stoppedByBroker || reason == .exited(0) {
            logger.info("child ended", metadata: ["exit": "\(exit)"])
        } else {
            logger.warning("child ended unexpectedly", metadata: ["exit": "\(exit)"])
        }
        await settleExit(exit)
    }

    func spawnFailed(_ error: ChildError) async {
        ChildMetrics.spawnFailed()
        ChildMetrics.exited(.spawnFailed)
        logger.error("child failed to start", metadata: ["error": "\(error)"])
        await settleExit(ChildExit(reason: .spawnFailed, status: nil))
    }
}
