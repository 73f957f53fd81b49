import Logging
import NIOCore
import NIOPosix
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The part of `ChildProcess` that lives inside swift-subprocess's `run` closure (the
/// `Execution` must not escape it): waits for the ends of stdout and stderr (read by their
/// channels' handlers), then group cleanup.
///
/// The child's stdio are pipes the broker creates and hands to NIO's event loops (which are
/// also the broker's concurrency executor): swift-subprocess's own readers kept a zero-filled
/// 64 KiB buffer per pending read (two per idle session, ~130 KB of RSS each) and resumed the
/// reader from a separate I/O thread; a NIO pipe channel holds no buffer while idle and reads on
/// the event loop. Stdin is written by `ChildProcess.send` straight to its pipe channel.
struct ChildRunner: Sendable {
    let executable: String
    let spec: ChildSpec
    let logger: Logger
    let onMessage: ChildProcess.MessageHandler
    let launched: Latch<Result<pid_t, ChildError>>
    let owner: ChildProcess

    static let setprivPath = "/usr/bin/setpriv"

    func run() async {
        var options = PlatformOptions()
        options.processGroupID = 0
        // Backstop only (runs if this task is cancelled); `ChildProcess.stop()` escalates itself.
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: spec.stopGrace)]
        var environment: [Environment.Key: String] = [:]
        for (name, value) in spec.environment {
            if let key = Environment.Key(rawValue: name) { environment[key] = value }
        }
        let (path, arguments) = commandLine()
        let lines = ChildStdoutLines(maxLine: spec.maxLineBytes, garbageRateLimit: spec.stderrRateLimit, logger: logger, onMessage: onMessage)
        let pipes: ChildPipes
        do {
            let stderr = ChildStderrHandler.Settings(rateLimit: spec.stderrRateLimit, redactor: ChildStderrRedactor(secrets: spec.redactions),
                                                     logger: logger)
            pipes = try await ChildPipes.open(stdoutLines: lines, stderr: stderr)
        } catch {
            await spawnFailed(ChildError.spawnFailed("cannot create the child's pipes: \(error)"))
            return
        }
        var status: ChildExit.Status?
        do {
            let result = try await Subprocess.run(
                .path(FilePath(path)), arguments: Arguments(arguments), environment: .custom(environment),
                platformOptions: options,
                input: .fileDescriptor(pipes.childStdin, closeAfterSpawningProcess: true),
                output: .fileDescriptor(pipes.childStdout, closeAfterSpawningProcess: true),
                error: .fileDescriptor(pipes.childStderr, closeAfterSpawningProcess: true)
            ) { execution in
                let pid = execution.processIdentifier.value
                lines.attach(pid: pid)
                let stdout = ChildStdout(pipes.stdout, descriptor: pipes.stdoutDescriptor, lines: lines)
                await owner.attachPipes(stdin: ChildStdin(channel: pipes.stdin, descriptor: pipes.stdinDescriptor), stdout: stdout)
                await launched.resolve(.success(pid))
                if await readStdout(stdout, lines: lines) == .lineTooLong {
                    await owner.noteLongLine()
                }
                await owner.closeStdin()
                // The child's last stderr lines (why it failed, often) are logged before its
                // exit is reported.
                try? await pipes.stderr.closeFuture.get()
            }
            switch result.terminationStatus {
            case .exited(let code): status = .exited(code)
            case .signaled(let signal): status = .signaled(signal)
            }
        } catch {
            if await launched.current == nil {
                pipes.closeAll()
                await spawnFailed(ChildError.spawnFailed("\(error)"))
                return
            }
            logger.error("child supervision failed", metadata: ["error": "\(error)"])
        }
        pipes.closeAll()
        // teardown's SIGKILL reaches the child only; a grandchild that ignores SIGTERM would
        // survive it, so the group always gets a final SIGKILL (swift-stack-notes §1).
        if case .success(let pid)? = await launched.current {
            kill(-pid, SIGKILL)
        }
        await owner.didExit(status)
    }

    /// Exit first, so that once start() throws, the exit is already known.
    private func spawnFailed(_ failure: ChildError) async {
        await owner.spawnFailed(failure)
        await launched.resolve(.failure(failure))
    }

    private func commandLine() -> (String, [String]) {
        if let sandbox = spec.sandbox {
            return sandbox.commandLine(executable: executable, arguments: spec.arguments)
        }
        if spec.parentDeathSignal, access(Self.setprivPath, X_OK) == 0 {
            return (Self.setprivPath, ["--pdeathsig", "KILL", "--", executable] + spec.arguments)
        }
        return (executable, spec.arguments)
    }

    enum StdoutEnd { case endOfStream, lineTooLong }

    /// Waits for the child's stdout to end, through each channel it moves to: the lines went to
    /// `lines` as the channels read them (`ChildStdoutHandler`), so this only sees the ends.
    private func readStdout(_ stdout: ChildStdout, lines: ChildStdoutLines) async -> StdoutEnd {
        var channel: ChildStdout.Reader? = stdout.first
        while let output = channel {
            // Closed at the end of the pipe, after a read error, for a line over the limit or
            // for a move; its handler has handed on every chunk by then.
            try? await output.closeFuture.get()
            if lines.sawLineTooLong {
                stdout.end()
                return .lineTooLong
            }
            channel = await stdout.next()
        }
        lines.finish()
        return .endOfStream
    }
}

/// The three pipes of one child: the child's ends go to swift-subprocess (closed in the broker
/// once the child has them), the broker's ends are NIO pipe channels on the singleton event loops.
struct ChildPipes: Sendable {
    let childStdin: SystemPackage.FileDescriptor
    let childStdout: SystemPackage.FileDescriptor
    let childStderr: SystemPackage.FileDescriptor
    /// Write side of the child's stdin (output-only channel: a failed write closes only it).
    let stdin: any Channel
    /// The descriptors `stdin` and `stdout` own (duplicated when the pipes move: `ChildPipeMove`).
    let stdinDescriptor: CInt
    let stdoutDescriptor: CInt
    let stdout: ChildStdout.Reader
    /// Read and logged by its `ChildStderrHandler`; closes at the end of the child's stderr.
    let stderr: any Channel

    /// `stdoutLines` takes the child's stdout as it is read (see `ChildStdoutLines`), a
    /// `ChildStderrHandler` with `stderr` its stderr.
    static func open(stdoutLines: ChildStdoutLines, stderr stderrSettings: ChildStderrHandler.Settings) async throws -> ChildPipes {
        let stdinPipe = try makePipe()
        let stdoutPipe = try makePipe()
        let stderrPipe = try makePipe()
        // The event loop running this spawn: the one `start()` was called on (jobs stay on the
        // loop that enqueued them), i.e. usually that of the connection whose request started the
        // child. Later calls may come on other connections and loops: the pipes then follow their
        // writers (`ChildPipeMovePolicy`), so that a call needs no cross-thread wake-up.
        let group = MultiThreadedEventLoopGroup.singleton.any()
        // Descriptors no channel owns yet, and the channels that own the others.
        var owned: [CInt] = [stdinPipe.write, stdoutPipe.read, stderrPipe.read]
        var opened: [any Channel] = []
        let children = [stdinPipe.read, stdoutPipe.write, stderrPipe.write]
        do {
            let stdin = try await NIOPipeBootstrap(group: group).takingOwnershipOfDescriptor(output: stdinPipe.write).get()
            owned.removeFirst()
            opened.append(stdin)
            let stdout = try await reader(stdoutPipe.read, group: group, lines: stdoutLines)
            owned.removeFirst()
            opened.append(stdout)
            let stderr = try await NIOPipeBootstrap(group: group).channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(stderrSettings.handler()) }
            }.takingOwnershipOfDescriptor(input: stderrPipe.read).get()
            return ChildPipes(
                childStdin: .init(rawValue: children[0]), childStdout: .init(rawValue: children[1]),
                childStderr: .init(rawValue: children[2]), stdin: stdin, stdinDescriptor: stdinPipe.write,
                stdoutDescriptor: stdoutPipe.read, stdout: stdout, stderr: stderr)
        } catch {
            for channel in opened { channel.close(promise: nil) }
            for fd in owned + children { close(fd) }
            throw error
        }
    }

    /// An input-only pipe channel whose every chunk goes to `lines` on the event loop as it is
    /// read (no async channel or task waits on it: an idle child costs only the channel).
    static func reader(_ fd: CInt, group: any EventLoop, lines: ChildStdoutLines) async throws -> ChildStdout.Reader {
        try await NIOPipeBootstrap(group: group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(ChildStdoutHandler(lines)) }
        }.takingOwnershipOfDescriptor(input: fd).get()
    }

    /// Close-on-exec, so nothing exec'd elsewhere inherits these ends (a leaked stdin write end
    /// would keep a child from ever seeing EOF; swift-subprocess also closes fds >= 3 in its children).
    private static func makePipe() throws -> (read: CInt, write: CInt) {
        var fds: [CInt] = [-1, -1]
        guard pipe(&fds) == 0 else { throw ChildError.spawnFailed("pipe: errno \(errno)") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return (fds[0], fds[1])
    }

    /// Closes the broker's channels (idempotent; each reader also closes its own when done).
    func closeAll() {
        stdin.close(promise: nil)
        stdout.close(promise: nil)
        stderr.close(promise: nil)
    }
}
