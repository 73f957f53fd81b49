import Hummingbird
import Logging
import NIOCore

/// Per-request state shared by the broker's middleware and handlers.
public struct BrokerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``RequestIDMiddleware``; also in `logger`'s metadata.
    public var requestID: String = ""
    /// The TCP peer, before trusted-proxy resolution.
    public let peerAddress: SocketAddress?
    /// The client address after believing `X-Forwarded-For` only from trusted proxies.
    public var clientAddress: String = "-"
    /// Set by ``BodyLimitMiddleware`` from configuration; enforced wherever a body is collected.
    public var maxUploadSize: Int = 1 << 20
    /// Whose bearer token the request carries; set by the `/mcp` route group's access middleware.
    public var principal: AuthenticatedPrincipal?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peerAddress = source.channel.remoteAddress
    }
}
