import Hummingbird
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

enum HealthRoutes {
    static func add(to router: Router<BrokerRequestContext>, checks: [ReadinessCheck]) {
        router.get("/healthz") { _, _ in
            JSONResponse.make(object: ["status": "ok"])
        }
        router.get("/readyz") { _, context in
            var results: [String: String] = [:]
            var ready = true
            var degraded = false
            for check in checks {
                do {
                    try await check.probe()
                    results[check.name] = "ok"
                } catch {
                    results[check.name] = "failing"
                    context.logger.warning("readiness check failed", metadata: ["check": "\(check.name)", "error": "\(error)"])
                    if check.required { ready = false } else { degraded = true }
                }
            }
            let status = ready ? (degraded ? "degraded" : "ok") : "unavailable"
            return JSONResponse.make(status: ready ? .ok : .serviceUnavailable, object: ["status": status, "checks": results])
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: BrokerMetrics.render())))
        }
    }
}
