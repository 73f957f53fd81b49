import BrokerKit
import Foundation

/// The broker's Prometheus exposition parsed into `series → value`, where a series is written
/// exactly as exposed (`name{label="value"}`). The registry is process-wide and shared by every
/// test in the run, so tests compare two snapshots instead of reading absolute values.
struct MetricsSnapshot {
    let values: [String: Double]

    /// What `/metrics` would answer right now.
    static func take() -> MetricsSnapshot {
        MetricsSnapshot(text: String(decoding: BrokerMetrics.render(), as: UTF8.self))
    }

    init(text: String) {
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            values[String(line[..<space])] = value
        }
        self.values = values
    }

    /// The series' value, 0 when it has not been created yet (a counter never incremented).
    func value(_ series: String) -> Double {
        values[series] ?? 0
    }

    /// How much each series grew since `earlier`.
    func delta(_ series: String, since earlier: MetricsSnapshot) -> Double {
        value(series) - earlier.value(series)
    }
}
