import Metrics

/// Telemetry of the stateless 2026-07-28 era, next to the legacy session series
/// (`fjmcp_bridge_requests_total` counts both eras' bridged calls; these say which era and how
/// the modern-only mechanisms behave). Labels come from fixed sets so a client cannot create series.
enum ModernMetrics {
    private static let knownMethods: Set<String> = ModernProtocol.methods

    /// How a modern request ended, as its `outcome` label.
    enum Outcome: String, CaseIterable {
        case complete, error, cancelled
        case inputRequired = "input_required"
    }

    /// One answered modern request.
    static func request(method: String, outcome: Outcome) {
        requests[knownMethods.contains(method) ? method : "other"]?[outcome]?.increment()
    }

    /// The per-request series, made once (see `SessionMetrics.bridgedSeries`): by method, then outcome.
    private static let requests: [String: [Outcome: Counter]] = {
        BrokerMetrics.bootstrap()
        return Dictionary(uniqueKeysWithValues: knownMethods.union(["other"]).map { method in
            (method, Dictionary(uniqueKeysWithValues: Outcome.allCases.map { outcome in
                (outcome, Counter(label: "fjmcp_modern_requests_total", dimensions: [("method", method), ("outcome", outcome.rawValue)]))
            }))
        })
    }()

    private static let posts: [MCPEra: Counter] = {
        BrokerMetrics.bootstrap()
        let eras: [(MCPEra, String)] = [(.legacy, "legacy"), (.sessionless, "sessionless"), (.modern, "modern"), (.unclassified, "unclassified")]
        return Dictionary(uniqueKeysWithValues: eras.map { era, label in (era, Counter(label: "fjmcp_mcp_posts_total", dimensions: [("era", label)])) })
    }()

    /// Every POST to `/mcp` by protocol era: "legacy" (initialize-based sessions, 2025-03-26 …
    /// 2025-11-25), "sessionless" (legacy-shaped without a session id), "modern" (2026-07-28) or
    /// "unclassified" (modern-shaped without the `_meta` it needs; answered with a modern error).
    static func post(era: MCPEra) {
        posts[era]?.increment()
    }

    /// A modern request refused with a JSON-RPC error of its own (never reached a child), by code.
    static func rejected(code: Int) {
        Counter(label: "fjmcp_modern_rejected_total", dimensions: [("code", "\(code)")]).increment()
    }

    static func inputRequired(_ method: String?) {
        let label = ["elicitation/create", "sampling/createMessage", "roots/list"].contains(method ?? "") ? method ?? "other" : "other"
        Counter(label: "fjmcp_mrtr_input_required_total", dimensions: [("method", label)]).increment()
    }

    static func inputExpired() {
        Counter(label: "fjmcp_mrtr_expired_total").increment()
    }

    static func stateRejected(_ failure: ModernRequestState.Failure) {
        Counter(label: "fjmcp_mrtr_state_rejected_total", dimensions: [("reason", "\(failure)")]).increment()
    }
}
