import Metrics

/// Session and bridge telemetry. Method labels are limited to MCP's own methods so a client
/// cannot blow up the series count by inventing method names.
enum SessionMetrics {
    private static let knownMethods: Set<String> = [
        "initialize", "ping", "tools/list", "tools/call", "resources/list", "resources/read", "resources/templates/list",
        "resources/subscribe", "resources/unsubscribe", "prompts/list", "prompts/get", "completion/complete",
        "logging/setLevel", "tasks/get", "tasks/list", "tasks/result", "tasks/cancel",
    ]

    static func counts(sessions: Int, userChildren: Int, children: Int) {
        Gauge(label: "fjmcp_sessions_active").record(sessions)
        Gauge(label: "fjmcp_user_children_active").record(userChildren)
        Gauge(label: "fjmcp_children_active").record(children)
    }

    static func spawned(after duration: Duration) {
        Metrics.Timer(label: "fjmcp_child_spawn_duration_seconds").record(duration: duration)
    }

    static func sessionEnded(_ reason: SessionEndReason) {
        Counter(label: "fjmcp_sessions_ended_total", dimensions: [("reason", reason.label)]).increment()
    }

    /// A session answered from the known `initialize` result, its child deferred to its first request.
    static func initializeWithoutSpawn() {
        Counter(label: "fjmcp_sessions_initialize_without_spawn_total").increment()
    }

    /// A session whose child was gone got a new one (`cause`: restart, reaped, evicted, crashed).
    static func resumed(cause: String) {
        Counter(label: "fjmcp_sessions_resumed_total", dimensions: [("cause", cause)]).increment()
    }

    /// A legacy request without `Mcp-Session-Id`, served on the user's child.
    static func sessionless() {
        sessionlessRequests.increment()
    }

    private static let sessionlessRequests: Counter = {
        BrokerMetrics.bootstrap()
        return Counter(label: "fjmcp_sessionless_requests_total")
    }()

    enum SwapResult: String {
        case swapped, failed
    }

    static func childSwap(_ result: SwapResult, duration: Duration) {
        Counter(label: "fjmcp_child_swaps_total", dimensions: [("outcome", result.rawValue)]).increment()
        Metrics.Timer(label: "fjmcp_child_swap_duration_seconds", dimensions: [("outcome", result.rawValue)]).record(duration: duration)
    }

    static func bridged(method: String?, duration: Duration) {
        guard let series = bridgedSeries[method.flatMap { knownMethods.contains($0) ? $0 : nil } ?? "other"] else { return }
        series.count.increment()
        series.duration.record(duration: duration)
    }

    /// Every bridged request updates these: made once per method label, since making a handle
    /// looks the series up in the Prometheus registry (a lock and the label strings built each
    /// time), while a kept one only adds. The registry is bootstrapped first, so the handles
    /// are never the no-op ones of an unbootstrapped `MetricsSystem`.
    private static let bridgedSeries: [String: (count: Counter, duration: Metrics.Timer)] = {
        BrokerMetrics.bootstrap()
        return Dictionary(uniqueKeysWithValues: (knownMethods.union(["other"])).map { label in
            (label, (Counter(label: "fjmcp_bridge_requests_total", dimensions: [("method", label)]),
                     Metrics.Timer(label: "fjmcp_bridge_request_duration_seconds", dimensions: [("method", label)])))
        })
    }()
}
