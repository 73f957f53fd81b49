import Foundation
import Metrics
import Prometheus

/// The process-wide Prometheus registry behind swift-metrics. `MetricsSystem.bootstrap` traps
/// when called twice, so it happens exactly once, lazily, the first time anything asks.
public enum BrokerMetrics {
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    private static let process = ProcessMetrics(registry: registry)

    public static func bootstrap() { _ = registry }

    /// Prometheus text exposition, with process figures sampled at scrape time.
    public static func render() -> [UInt8] {
        process.update()
        return registry.emitToBuffer()
    }
}

/// The standard `process_*` series (what Go and Python exporters publish), read from /proc so
/// dashboards built for other services work unchanged.
struct ProcessMetrics: Sendable {
    private let residentMemory: Prometheus.Gauge
    private let virtualMemory: Prometheus.Gauge
    private let cpuSeconds: Prometheus.Gauge
    private let openFDs: Prometheus.Gauge
    private let startTime: Prometheus.Gauge
    private let threads: Prometheus.Gauge

    init(registry: PrometheusCollectorRegistry) {
        residentMemory = registry.makeGauge(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.")
        virtualMemory = registry.makeGauge(name: "process_virtual_memory_bytes", help: "Virtual memory size in bytes.")
        cpuSeconds = registry.makeGauge(name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.")
        openFDs = registry.makeGauge(name: "process_open_fds", help: "Number of open file descriptors.")
        startTime = registry.makeGauge(name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.")
        threads = registry.makeGauge(name: "process_threads", help: "Number of OS threads.")
        startTime.set(Date().timeIntervalSince1970 - ProcessInfo.processInfo.systemUptime + Self.startAfterBoot())
    }

    func update() {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return }
        // Fields after the command name; field 3 (state) is index 0 here.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        if fields.count > 21, let user = Double(fields[11]), let system = Double(fields[12]),
           let threadCount = Double(fields[17]), let vsize = Double(fields[20]), let rss = Double(fields[21]) {
            cpuSeconds.set((user + system) / ticks)
            threads.set(threadCount)
            virtualMemory.set(vsize)
            residentMemory.set(rss * pageSize)
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            openFDs.set(Double(entries.count))
        }
    }

    /// Seconds between boot and this process's start (field 22 of /proc/self/stat, in ticks).
    private static func startAfterBoot() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return ProcessInfo.processInfo.systemUptime }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let ticks = Double(fields[19]) else { return ProcessInfo.processInfo.systemUptime }
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
