import Foundation
import Synchronization

/// A bound on a test's (or one request's) total time, so that a hang becomes a failure with a
/// message instead of stalling the whole suite.
///
/// The body runs in an unstructured task that is raced against the deadline: a structured race
/// (`withTaskGroup`) would itself wait for a body stuck somewhere that ignores cancellation,
/// which is exactly the kind of hang this exists to report. On timeout the body is cancelled and
/// left behind; the caller gets `DeadlineExceeded` at once.
func withDeadline<T: Sendable>(
    _ timeout: Duration, _ what: String, diagnostics: @escaping @Sendable () async -> String = { "" },
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = DeadlineRace<T>()
    let work = Task {
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        race.finish(result)
    }
    let timer = Task {
        try? await Task.sleep(for: timeout)
        guard !Task.isCancelled else { return }
        race.finish(.failure(DeadlineExceeded(what: what, timeout: timeout, diagnostics: await diagnostics())))
    }
    let result = await withTaskCancellationHandler {
        await race.value()
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
    timer.cancel()
    if case .failure(let error) = result, error is DeadlineExceeded { work.cancel() }
    return try result.get()
}

struct DeadlineExceeded: Error, CustomStringConvertible {
    let what: String
    let timeout: Duration
    let diagnostics: String

    var description: String {
        "\(what) did not finish within \(timeout)" + (diagnostics.isEmpty ? "" : "\n\(diagnostics)")
    }
}

/// First result wins; every later one is dropped. Waiters are resumed exactly once.
private final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var result: Result<T, any Error>?
        var waiters: [CheckedContinuation<Result<T, any Error>, Never>] = []
    }

    private let state = Mutex(State())

    func finish(_ result: Result<T, any Error>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Result<T, any Error>, Never>] in
            guard state.result == nil else { return [] }
            state.result = result
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: result) }
    }

    func value() async -> Result<T, any Error> {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Result<T, any Error>? in
                if let result = state.result { return result }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// Timestamped steps of a long test, printed with a deadline failure to show where it stood.
final class TestProgress: Sendable {
    private let started = ContinuousClock.now
    private let steps = Mutex<[String]>([])

    func note(_ step: String) {
        let elapsed = ContinuousClock.now - started
        let ms = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        steps.withLock { $0.append("+\(ms) ms \(step)") }
    }

    var log: String { steps.withLock { $0.joined(separator: "\n") } }
}

/// A last-resort alarm outside Swift concurrency: if every cooperative thread is blocked, no
/// task (not even `withDeadline`'s timer) runs again, so this fires from a Dispatch thread and
/// prints every thread's native stack (via gdb, when installed) before the suite stalls.
final class HangWatchdog: Sendable {
    private let armed = Atomic<Bool>(true)

    init(after timeout: Duration, _ what: String) {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [self] in
            guard armed.load(ordering: .relaxed) else { return }
            print("HangWatchdog: \(what) still running after \(timeout); native stacks follow")
            Self.dumpStacks()
        }
    }

    func disarm() { armed.store(false, ordering: .relaxed) }

    private static func dumpStacks() {
        let gdb = "/usr/bin/gdb"
        guard FileManager.default.isExecutableFile(atPath: gdb) else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: gdb)
        process.arguments = ["-p", "\(getpid())", "-batch", "-nx", "-ex", "thread apply all bt 30"]
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("hang-\(getpid())-\(UUID().uuidString).txt")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        guard let handle = try? FileHandle(forWritingTo: output) else { return }
        process.standardOutput = handle
        process.standardError = handle
        do { try process.run() } catch { return }
        process.waitUntilExit()
        print("HangWatchdog: stacks written to \(output.path)")
    }
}
