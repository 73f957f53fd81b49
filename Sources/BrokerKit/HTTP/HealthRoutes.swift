import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// A dependency whose failure makes the broker unable to serve: readiness fails when a
/// `required` check fails; optional ones (Forgejo) are reported but only mark "degraded", since
/// taking the broker out of rotation would not bring Forgejo back.
public struct ReadinessCheck: Sendable {
    /// When the probe runs.
    public enum Schedule: Sendable, Equatable {
        /// While `/readyz` waits, at most once per the monitor's TTL: local and fast (the store).
        case onRequest
        /// In the background every `interval`, each probe given up after `timeout`; `/readyz`
        /// answers from the last result at once. For remote dependencies (Forgejo), whose answer
        /// can take as long as their request timeout, longer than common probe timeouts.
        case background(every: Duration, timeout: Duration)
    }

    public let name: String
    public let required: Bool
    public let schedule: Schedule
    public let probe: @Sendable () async throws -> Void

    public init(name: String, required: Bool, schedule: Schedule = .onRequest, probe: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.required = required
        self.schedule = schedule
        self.probe = probe
    }
}

/// The state behind `/readyz`. On-request checks run at most once per `ttl`, so a flood of
/// `/readyz` requests cannot turn into a flood of database queries; background checks run on
/// their own interval while the monitor runs as a service (`run()`), so `/readyz` never waits
/// for Forgejo. Until its first probe finishes a background check reads "pending" (neither
/// degraded nor, if required, ready).
public actor ReadinessMonitor: Service {
    struct Result: Sendable {
        var checks: [String: String]
        var ready: Bool
        var degraded: Bool
    }

    private enum Status: String { case pending, ok, failing }

    private let checks: [ReadinessCheck]
    private let ttl: Duration
    private let logger: Logger
    private var cached: (result: Result, at: ContinuousClock.Instant)?
    private var background: [String: Status] = [:]

    public init(checks: [ReadinessCheck], ttl: Duration = .seconds(2), logger: Logger = Logger(label: "fjmcp.readiness")) {
        self.checks = checks
        self.ttl = ttl
        self.logger = logger
        for check in checks where check.schedule != .onRequest { background[check.name] = .pending }
    }

    /// Probes the background checks until graceful shutdown or cancellation; a probe in flight is
    /// abandoned then (it is bounded by its timeout anyway).
    public func run() async throws {
        let scheduled = checks.compactMap { check -> (ReadinessCheck, Duration, Duration)? in
            guard case .background(let interval, let timeout) = check.schedule else { return nil }
            return (check, interval, timeout)
        }
        guard !scheduled.isEmpty else { return }
        try? await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for (check, interval, timeout) in scheduled {
                    group.addTask { await self.monitor(check, every: interval, timeout: timeout) }
                }
            }
        }
    }

    private nonisolated func monitor(_ check: ReadinessCheck, every interval: Duration, timeout: Duration) async {
        while !Task.isCancelled {
            let outcome = await withTimeout(timeout) { () async -> String? in
                do {
                    try await check.probe()
                    return "ok"
                } catch {
                    return "\(error)"
                }
            }
            guard !Task.isCancelled else { return }
            await record(check.name, outcome: outcome ?? "no answer within \(timeout)")
            try? await Task.sleep(for: interval)
        }
    }

    /// Logs transitions only: a Forgejo that is down for an hour is one warning, not 360.
    private func record(_ name: String, outcome: String) {
        let status: Status = outcome == "ok" ? .ok : .failing
        let previous = background[name]
        background[name] = status
        if status == .failing, previous != .failing {
            logger.warning("readiness check failed", metadata: ["check": "\(name)", "error": "\(outcome)"])
        } else if status == .ok, previous == .failing {
            logger.notice("readiness check recovered", metadata: ["check": "\(name)"])
        }
    }

    func result(logger: Logger) async -> Result {
        var result: Result
        if let cached, ContinuousClock.now - cached.at < ttl {
            result = cached.result
        } else {
            result = Result(checks: [:], ready: true, degraded: false)
            for check in checks where check.schedule == .onRequest {
                do {
                    try await check.probe()
                    result.checks[check.name] = "ok"
                } catch {
                    result.checks[check.name] = "failing"
                    logger.warning("readiness check failed", metadata: ["check": "\(check.name)", "error": "\(error)"])
                    if check.required { result.ready = false } else { result.degraded = true }
                }
            }
            cached = (result, ContinuousClock.now)
        }
        for check in checks where check.schedule != .onRequest {
            let status = background[check.name] ?? .pending
            result.checks[check.name] = status.rawValue
            if status == .failing, !check.required { result.degraded = true }
            if status != .ok, check.required { result.ready = false }
        }
        return result
    }
}

enum HealthRoutes {
    /// `/healthz` is open (load balancers); `/readyz` and `/metrics` reveal operational detail and
    /// cost work, so only `allowed` client addresses (after trusted-proxy resolution) see them.
    static func add(to router: Router<BrokerRequestContext>, readiness probe: ReadinessMonitor, allowed: [IPRange]?) {
        router.get("/healthz") { _, _ in
            JSONResponse.make(object: ["status": "ok"])
        }
        router.get("/readyz") { _, context in
            try requireAllowed(context, allowed)
            let result = await probe.result(logger: context.logger)
            let status = result.ready ? (result.degraded ? "degraded" : "ok") : "unavailable"
            return JSONResponse.make(status: result.ready ? .ok : .serviceUnavailable, object: ["status": status, "checks": result.checks])
        }
        router.get("/metrics") { _, context in
            try requireAllowed(context, allowed)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: BrokerMetrics.render())))
        }
    }

    private static func requireAllowed(_ context: BrokerRequestContext, _ allowed: [IPRange]?) throws {
        guard let allowed else { return }
        guard let address = IPAddress(parsing: context.clientAddress), allowed.contains(where: { $0.contains(address) }) else {
            throw BrokerHTTPError(.notFound, code: "not_found", description: "not found")
        }
    }
}
