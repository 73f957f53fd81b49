import Foundation
import XCTest

/// Runs one of the package's built executables as a real process (not in-process), capturing
/// its output so tests can wait for log lines and assert on what an operator would see.
final class ProductProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var stdoutText = ""
    private var stderrText = ""

    /// `.build/debug` (or release): the directory holding the test bundle also holds the products.
    static var productsDirectory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .pathComponents.contains(where: { $0.hasSuffix(".xctest") })
            ? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().deletingLastPathComponent()
            : URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }

    init(_ product: String, arguments: [String], environment: [String: String]) throws {
        let url = Self.productsDirectory.appendingPathComponent(product)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            // A failure, not a skip: a suite that silently skips its binary tests proves nothing.
            throw ProcessFailure(message: "\(product) is not built at \(url.path); run `swift build` first")
        }
        process.executableURL = url
        process.arguments = arguments
        process.environment = environment.merging(["PATH": "/usr/local/bin:/usr/bin:/bin"]) { current, _ in current }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        out.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.append(data, toStdout: true)
        }
        err.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.append(data, toStdout: false)
        }
        try process.run()
    }

    private func append(_ data: Data, toStdout: Bool) {
        guard !data.isEmpty else { return }
        lock.lock()
        defer { lock.unlock() }
        if toStdout { stdoutText += String(decoding: data, as: UTF8.self) } else { stderrText += String(decoding: data, as: UTF8.self) }
    }

    var stdout: String { lock.lock(); defer { lock.unlock() }; return stdoutText }
    var stderr: String { lock.lock(); defer { lock.unlock() }; return stderrText }

    /// Polls captured output until `predicate` finds what it needs or the deadline passes.
    func waitFor<T>(_ what: String, timeout: Duration = .seconds(20), _ predicate: (ProductProcess) -> T?) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let value = predicate(self) { return value }
            if !process.isRunning, let value = predicate(self) { return value }
            if !process.isRunning {
                throw ProcessFailure(message: "process exited (\(process.terminationStatus)) before \(what)\nstderr:\n\(stderr)\nstdout:\n\(stdout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ProcessFailure(message: "timed out waiting for \(what)\nstderr:\n\(stderr)")
    }

    /// Waits for exit and returns the status, or nil if it did not exit in time.
    func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return process.isRunning ? nil : process.terminationStatus
    }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    struct ProcessFailure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}
