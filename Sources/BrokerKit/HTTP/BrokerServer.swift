import Hummingbird
import Logging
import NIOCore

/// A component that serves routes of its own (OAuth, the MCP endpoint). The HTTP layer knows
/// only this protocol, so components plug in without HTTP knowing their insides.
public protocol RouteProvider: Sendable {
    func addRoutes(to router: Router<BrokerRequestContext>)
}

/// Assembles the router: middleware order matters (outermost first): the request id must exist
/// before anything logs; the access log must see the final status including errors; security
/// headers apply to error responses too; the body limit runs before any handler reads a body.
public enum BrokerServer {
    /// With on-request readiness checks only (a monitor nobody runs never probes background ones).
    public static func makeRouter(config: BrokerConfig, checks: [ReadinessCheck], providers: [any RouteProvider]) -> Router<BrokerRequestContext> {
        assert(checks.allSatisfy { $0.schedule == .onRequest }, "background readiness checks need a running ReadinessMonitor")
        return makeRouter(config: config, readiness: ReadinessMonitor(checks: checks), providers: providers)
    }

    /// `readiness` must also run as a service for its background checks to be probed.
    public static func makeRouter(config: BrokerConfig, readiness: ReadinessMonitor, providers: [any RouteProvider]) -> Router<BrokerRequestContext> {
        BrokerMetrics.bootstrap()
        let router = Router(context: BrokerRequestContext.self)
        router.add(middleware: RequestIDMiddleware(trustedProxies: config.trustedProxies))
        router.add(middleware: AccessLogMiddleware())
        router.add(middleware: SecurityHeadersMiddleware(publicURL: config.publicURL))
        router.add(middleware: HTTPMetricsMiddleware())
        router.add(middleware: BodyLimitMiddleware(limit: config.maxBodySize))
        HealthRoutes.add(to: router, readiness: readiness, allowed: config.metricsAllow)
        for provider in providers { provider.addRoutes(to: router) }
        return router
    }

    public static func makeApplication(
        config: BrokerConfig, router: Router<BrokerRequestContext>, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router,
            configuration: .init(address: .hostname(config.listen.host, port: config.listen.port), serverName: nil),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? config.listen.port) },
            logger: logger
        )
    }
}
