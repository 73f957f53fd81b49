import Foundation
import Logging
import Synchronization
import XCTest

@testable import BrokerKit

/// Locates the `demo-mcp-server` built next to the test bundle (same `.build/<config>` folder).
enum DemoBinary {
    static var path: String {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("demo-mcp-server").path
        if FileManager.default.isExecutableFile(atPath: besideTests) { return besideTests }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../../.build/debug/demo-mcp-server"
        ).standardizedFileURL.path
    }

    static func spec(_ options: [String] = ["--no-forgejo-check"], grace: Duration = .seconds(2)) -> ChildSpec {
        ChildSpec(executable: path, arguments: options, stopGrace: grace)
    }
}

/// Keeps every log record so tests can assert on what the supervisor logged.
final class LogCapture: Sendable {
    private let records = Mutex<[(Logger.Level, String)]>([])

    var logger: Logger {
        var logger = Logger(label: "test") { _ in CapturingHandler(capture: self) }
        logger.logLevel = .trace
        return logger
    }

    var messages: [String] { records.withLock { $0.map(\.1) } }

    func append(_ level: Logger.Level, _ message: String) {
        records.withLock { $0.append((level, message)) }
    }

    struct CapturingHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        func log(event: LogEvent) {
            capture.append(event.level, event.message.description)
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
    }
}

/// Collects a child's stdout lines for assertions (the handler is called synchronously on the
/// event loop that read them).
final class LineCollector: Sendable {
    private let collected = Mutex<[[UInt8]]>([])

    var lines: [[UInt8]] { collected.withLock { $0 } }
    var strings: [String] { lines.map { String(decoding: $0, as: UTF8.self) } }

    func append(_ line: [UInt8]) {
        collected.withLock { $0.append(line) }
    }

    /// The first line containing `fragment`, waiting up to `timeout`.
    func line(containing fragment: String, timeout: Duration = .seconds(10)) async -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let match = strings.first(where: { $0.contains(fragment) }) { return match }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }
}

/// Polls `condition` until it holds or the deadline passes.
func eventually(timeout: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}

/// Alive = exists and is not a zombie (a container's PID 1 may never reap orphans).
func processIsAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}

func initializeLine(id: Int = 1) -> [UInt8] {
    Array(#"{"jsonrpc":"2.0","id":\#(id),"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#.utf8)
}

func toolCallLine(id: String, tool: String, arguments: String, meta: String? = nil) -> [UInt8] {
    let metaPart = meta.map { #","_meta":\#($0)"# } ?? ""
    return Array(
        #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"\#(tool)","arguments":\#(arguments)\#(metaPart)}}"#
            .utf8)
}

/// Live (non-zombie) processes whose environment holds `entry` (`NAME=value`). Tests tag their
/// children with a unique entry, so no other test's process can match.
func liveProcesses(withEnvironment entry: String) -> [Int32] {
    let needle = Data(entry.utf8)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return names.compactMap(Int32.init).filter { pid in
        guard let handle = FileHandle(forReadingAtPath: "/proc/\(pid)/environ") else { return false }
        defer { try? handle.close() }
        guard let environment = try? handle.readToEnd() else { return false }
        return environment.split(separator: 0).contains(needle) && processIsAlive(pid)
    }
}

/// Runs `operation` in its own task and returns its result if it ends within `timeout`, nil
/// otherwise. The operation is not awaited past the deadline, so a hang fails the test
/// instead of stalling the whole run.
func finishes<T: Sendable>(within timeout: Duration, _ operation: @escaping @Sendable () async -> T) async -> T? {
    let outcome = Mutex<T?>(nil)
    Task { let value = await operation(); outcome.withLock { $0 = value } }
    _ = await eventually(timeout: timeout) { outcome.withLock { $0 != nil } }
    return outcome.withLock { $0 }
}
