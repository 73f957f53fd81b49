import Metrics

/// Child lifecycle counters; labels are fixed here so dashboards can rely on them.
enum ChildMetrics {
    static func spawned() {
        Counter(label: "fjmcp_child_spawns_total").increment()
    }

    static func spawnFailed() {
        Counter(label: "fjmcp_child_spawn_failures_total").increment()
    }

    static func exited(_ reason: ChildExit.Reason) {
        Counter(label: "fjmcp_child_exits_total", dimensions: [("reason", reason.label)]).increment()
    }
}
