import Logging
import Metrics

/// The refresh counter, the duration histogram and the one log line per refresh. Only user ids,
/// outcomes, reason codes and generations are logged, never a token.
enum UpstreamRefreshTelemetry {
    static func record(
        _ outcome: UpstreamRefreshOutcome, userID: Int64, duration: Duration, logger: Logger
    ) {
        Counter(label: "fjmcp_upstream_refreshes_total", dimensions: [("outcome", outcome.label)]).increment()
        Metrics.Timer(label: "fjmcp_upstream_refresh_duration_seconds").record(duration: duration)
        var metadata: Logger.Metadata = [
            "user_id": "\(userID)", "outcome": .string(outcome.label),
            "duration_ms": "\(Int((duration.timeInterval * 1000).rounded()))",
        ]
        if let reason = outcome.reason { metadata["reason"] = .string(reason) }
        if let stored = outcome.stored { metadata["generation"] = "\(stored.version)" }
        switch outcome {
        case .refreshed, .adopted:
            logger.info("upstream_refresh", metadata: metadata)
        case .transient:
            logger.warning("upstream_refresh", metadata: metadata)
        case .final:
            logger.notice("upstream_refresh", metadata: metadata)
        case .unusable:
            metadata["hint"] = "the stored token set does not open: was FJMCP_SECRET_KEY changed without FJMCP_SECRET_KEY_PREVIOUS?"
            logger.error("upstream_refresh", metadata: metadata)
        case .misconfigured:
            metadata["hint"] = "check FORGEJO_CLIENT_ID, FORGEJO_CLIENT_SECRET and FORGEJO_URL"
            logger.error("upstream_refresh", metadata: metadata)
        }
    }
}
