import Foundation
import Histogram

/// Latencies of one measured run, in nanoseconds, recorded as measured (no coordinated-omission
/// correction: a worker sends its next request only after the previous answer).
struct LatencyRecorder: Sendable {
    private(set) var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1_000, highestTrackableValue: 120_000_000_000,
                                                   numberOfSignificantValueDigits: .three)
    private(set) var errors = 0

    init() { histogram.autoResize = true }

    mutating func record(nanoseconds: UInt64) { histogram.record(Swift.max(nanoseconds, 1_000)) }
    mutating func recordError() { errors += 1 }

    mutating func merge(_ other: LatencyRecorder) {
        histogram.add(other.histogram)
        errors += other.errors
    }
}

/// One row of results: the figures every mode reports, plus free-form extras.
struct RunResult: Codable, Sendable {
    var label: String
    var mode: String
    var method: String
    var sessions: Int
    var concurrency: Int
    var calls: UInt64
    var errors: Int
    var seconds: Double
    var callsPerSecond: Double
    var p50Ms: Double
    var p90Ms: Double
    var p99Ms: Double
    var maxMs: Double
    var meanMs: Double
    var extra: [String: Double] = [:]

    init(label: String, mode: String, method: String, sessions: Int, concurrency: Int, recorder: LatencyRecorder, elapsed: Duration) {
        let h = recorder.histogram
        func ms(_ ns: UInt64) -> Double { Double(ns) / 1_000_000 }
        self.label = label
        self.mode = mode
        self.method = method
        self.sessions = sessions
        self.concurrency = concurrency
        self.calls = h.totalCount
        self.errors = recorder.errors
        self.seconds = elapsed.seconds
        self.callsPerSecond = elapsed.seconds > 0 ? Double(h.totalCount) / elapsed.seconds : 0
        self.p50Ms = h.totalCount > 0 ? ms(h.valueAtPercentile(50)) : 0
        self.p90Ms = h.totalCount > 0 ? ms(h.valueAtPercentile(90)) : 0
        self.p99Ms = h.totalCount > 0 ? ms(h.valueAtPercentile(99)) : 0
        self.maxMs = h.totalCount > 0 ? ms(h.max) : 0
        self.meanMs = h.totalCount > 0 ? h.mean / 1_000_000 : 0
    }

    var line: String {
        String(format: "%-28@ c=%-3d s=%-4d calls=%-7llu err=%-3d %9.0f calls/s  p50 %7.3f  p90 %7.3f  p99 %7.3f  max %8.3f ms",
               label as NSString, concurrency, sessions, calls, errors, callsPerSecond, p50Ms, p90Ms, p99Ms, maxMs)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var nanoseconds: UInt64 { UInt64(max(0, components.seconds)) * 1_000_000_000 + UInt64(max(0, components.attoseconds) / 1_000_000_000) }
}

/// Writes results as JSON (pretty, sorted) to a file, or to stdout when the path is "-".
func emit<T: Encodable>(_ value: T, to path: String?) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let data = try encoder.encode(value)
    guard let path else { return }
    if path == "-" {
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    } else {
        try data.write(to: URL(fileURLWithPath: path))
    }
}

/// Shared bound of a measured run: stops at `calls` completed calls or after `seconds`.
final class RunBudget: @unchecked Sendable {
    private let lock = NSLock()
    private var remaining: Int
    let deadline: ContinuousClock.Instant

    init(calls: Int, seconds: Double) {
        remaining = calls
        deadline = .now + .milliseconds(Int(seconds * 1000))
    }

    /// Claims one call; false once the budget is spent or the time is up.
    func take() -> Bool {
        if ContinuousClock.now >= deadline { return false }
        lock.lock()
        defer { lock.unlock() }
        guard remaining > 0 else { return false }
        remaining -= 1
        return true
    }
}

/// RSS and thread count of a process from /proc (Linux).
struct ProcStatus: Codable, Sendable {
    var rssKB: Int
    var threads: Int
    var fds: Int

    static func read(pid: Int32) -> ProcStatus? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Int {
            for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
                return Int(line.dropFirst(name.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") ?? 0
            }
            return 0
        }
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
        return ProcStatus(rssKB: field("VmRSS"), threads: field("Threads"), fds: fds)
    }
}

func log(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
