import Logging
import Metrics

/// One structured log line per OAuth step and the OAuth counters, so an operator can tell from
/// the log which step of a client's login failed and why. Callers pass only identifiers and
/// reason codes, never token, code, state or cookie values.
enum OAuthTelemetry {
    static func step(
        _ logger: Logger, _ step: String, clientID: String?, login: String? = nil, outcome: String = "ok", reason: String? = nil
    ) {
        var metadata: Logger.Metadata = ["oauth_step": .string(step), "outcome": .string(outcome)]
        if let clientID { metadata["client_id"] = .string(String(clientID.prefix(200))) }
        if let login { metadata["user"] = .string(login) }
        if let reason { metadata["reason"] = .string(reason) }
        // A flood answered 429 would otherwise write one notice line per request; the
        // `fjmcp_oauth_failures_total{reason="rate_limited"}` counter still sees every one.
        let level: Logger.Level = outcome == "ok" ? .info : reason == "rate_limited" ? .debug : .notice
        logger.log(level: level, "oauth_step", metadata: metadata)
    }

    static func failure(_ logger: Logger, endpoint: String, clientID: String?, login: String? = nil, reason: String) {
        step(logger, endpoint, clientID: clientID, login: login, outcome: "error", reason: reason)
        Counter(label: "fjmcp_oauth_failures_total", dimensions: [("endpoint", endpoint), ("reason", reason)]).increment()
    }

    static func issued(grantType: String) {
        Counter(label: "fjmcp_oauth_tokens_issued_total", dimensions: [("grant_type", grantType)]).increment()
    }

    static func revoked() {
        Counter(label: "fjmcp_oauth_tokens_revoked_total").increment()
    }
}
