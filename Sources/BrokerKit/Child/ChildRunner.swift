import Logging
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The part of `ChildProcess` that lives inside swift-subprocess's `run` closure (the
/// `Execution` must not escape it): stdin pump, stdout reader, stderr drain, then group cleanup.
struct ChildRunner: Sendable {
    let executable: String
    let spec: ChildSpec
    let logger: Logger
    let stdinWrites: AsyncStream<StdinWrite>
    let stdinContinuation: AsyncStream<StdinWrite>.Continuation
    let onMessage: ChildProcess.MessageHandler
    let launched: Latch<Result<pid_t, ChildError>>
    let owner: ChildProcess

    static let setprivPath = "/usr/bin/setpriv"
    static let stderrMaxLine = 8 * 1024

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
        var status: ChildExit.Status?
        do {
            let result = try await Subprocess.run(
                .path(FilePath(path)), arguments: Arguments(arguments), environment: .custom(environment),
                platformOptions: options, input: .inputWriter, output: .sequence, error: .sequence
            ) { execution in
                let pid = execution.processIdentifier.value
                await launched.resolve(.success(pid))
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await pumpStdin(execution.standardInputWriter) }
                    group.addTask { await drainStderr(execution.standardError) }
                    if await readStdout(execution.standardOutput) == .lineTooLong {
                        await owner.noteLongLine()
                        kill(-pid, SIGKILL)
                    }
                    stdinContinuation.finish()
                    await group.waitForAll()
                }
            }
            switch result.terminationStatus {
            case .exited(let code): status = .exited(code)
            case .signaled(let signal): status = .signaled(signal)
            }
        } catch {
            if await launched.current == nil {
                let failure = ChildError.spawnFailed("\(error)")
                // Exit first, so that once start() throws, the exit is already known.
                await failQueuedWrites()
                await owner.spawnFailed(failure)
                await launched.resolve(.failure(failure))
                return
            }
            logger.error("child supervision failed", metadata: ["error": "\(error)"])
        }
        stdinContinuation.finish()
        // teardown's SIGKILL reaches the child only; a grandchild that ignores SIGTERM would
        // survive it, so the group always gets a final SIGKILL (swift-stack-notes §1).
        if case .success(let pid)? = await launched.current {
            kill(-pid, SIGKILL)
        }
        await owner.didExit(status)
    }

    private func commandLine() -> (String, [String]) {
        if spec.parentDeathSignal, access(Self.setprivPath, X_OK) == 0 {
            return (Self.setprivPath, ["--pdeathsig", "KILL", "--", executable] + spec.arguments)
        }
        return (executable, spec.arguments)
    }

    /// The pump never ran, so nobody else would ever resume a write queued before the spawn
    /// failed (or a later `send`), leaving its sender suspended forever.
    private func failQueuedWrites() async {
        stdinContinuation.finish()
        for await write in stdinWrites {
            write.completion.resume(returning: .failure(.notRunning))
        }
    }

    private func pumpStdin(_ writer: StandardInputWriter) async {
        var broken = false
        for await write in stdinWrites {
            guard !broken else {
                write.completion.resume(returning: .failure(.notRunning))
                continue
            }
            do {
                _ = try await writer.write(write.bytes)
                write.completion.resume(returning: .success(()))
            } catch {
                broken = true
                write.completion.resume(returning: .failure(.notRunning))
            }
        }
        try? await writer.finish()
    }

    enum StdoutEnd { case endOfStream, lineTooLong }

    private func readStdout(_ output: SubprocessOutputSequence) async -> StdoutEnd {
        var splitter = LineSplitter(maxLine: spec.maxLineBytes, overflow: .fail)
        var garbageLog = LogRateLimiter(spec.stderrRateLimit)
        var lines: [[UInt8]] = []
        var end = StdoutEnd.endOfStream
        do {
            for try await chunk in output {
                do {
                    try chunk.withUnsafeBytes { (bytes) throws(LineSplitter.LineTooLong) in
                        try splitter.feed(bytes, into: &lines)
                    }
                } catch {
                    end = .lineTooLong
                }
                for line in lines { await deliver(line, garbageLog: &garbageLog) }
                lines.removeAll(keepingCapacity: true)
                if end == .lineTooLong { return end }
            }
        } catch {
            logger.debug("child stdout ended with an error", metadata: ["error": "\(error)"])
        }
        if let rest = splitter.finish() { await deliver(rest, garbageLog: &garbageLog) }
        return end
    }

    private func deliver(_ line: [UInt8], garbageLog: inout LogRateLimiter) async {
        if Self.looksLikeJSON(line) {
            await onMessage(line)
            return
        }
        guard line.contains(where: { !Self.isWhitespace($0) }) else { return }
        if case .log(let suppressed) = garbageLog.admit() {
            logger.warning(
                "dropped a non-JSON stdout line from the child",
                metadata: ["bytes": "\(line.count)", "suppressed_before": "\(suppressed)"])
        }
    }

    private func drainStderr(_ errors: SubprocessOutputSequence) async {
        var splitter = LineSplitter(maxLine: Self.stderrMaxLine, overflow: .truncate)
        var limiter = LogRateLimiter(spec.stderrRateLimit)
        var lines: [[UInt8]] = []
        var suppressed = 0
        func log(_ line: [UInt8]) {
            switch limiter.admit() {
            case .drop:
                suppressed += 1
            case .log(let before):
                if before > 0 { logger.notice("suppressed \(before) child stderr lines") }
                suppressed = 0
                logger.info("\(String(decoding: line, as: UTF8.self))", metadata: ["stream": "stderr"])
            }
        }
        do {
            for try await chunk in errors {
                chunk.withUnsafeBytes { bytes in try? splitter.feed(bytes, into: &lines) }
                lines.forEach(log)
                lines.removeAll(keepingCapacity: true)
            }
        } catch {
            logger.debug("child stderr ended with an error", metadata: ["error": "\(error)"])
        }
        if let rest = splitter.finish() { log(rest) }
        if suppressed > 0 { logger.notice("suppressed \(suppressed) child stderr lines") }
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
