import Hummingbird
import Logging
import NIOCore

/// A dependency whose failure makes the broker unable to serve: readiness fails when a
/// `required` check fails; optional ones (Forgejo) are reported but only mark "degraded", since
/// taking the broker out of rotation would not bring Forgejo back.
public struct ReadinessCheck: Sendable {
    public let name: String
    public let required: Bool
    public let probe: @Sendable () async throws -> Void

    public init(name: String, required: Bool, probe: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.required = required
        self.probe = probe
    }
}

/// Runs the readiness probes at most once per `ttl`, so a flood of `/readyz` requests cannot
/// turn into a flood of Forgejo calls and database queries.
actor ReadinessProbe {
    struct Result: Sendable {
        var checks: [String: String]
        var ready: Bool
        var degraded: Bool
    }

    private let checks: [ReadinessCheck]
    private let ttl: Duration
    private var cached: (result: Result, at: ContinuousClock.Instant)?

    init(checks: [ReadinessCheck], ttl: Duration = .seconds(2)) {
        self.checks = checks
        self.ttl = ttl
    }

    func result(logger: Logger) async -> Result {
        if let cached, ContinuousClock.now - cached.at < ttl { return cached.result }
        var result = Result(checks: [:], ready: true, degraded: false)
        for check in checks {
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
        return result
    }
}

enum HealthRoutes {
    /// `/healthz` is open (load balancers); `/readyz` and `/metrics` reveal operational detail and
    /// cost work, so only `allowed` client addresses (after trusted-proxy resolution) see them.
    static func add(to router: Router<BrokerRequestContext>, checks: [ReadinessCheck], allowed: [IPRange]?) {
        let probe = ReadinessProbe(checks: checks)
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
