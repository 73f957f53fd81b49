import Hummingbird

/// Admission to every `/mcp` method, as middleware on the route group so that no handler can
/// forget it: Host and Origin first (DNS-rebinding protection, before anything about the caller
/// is looked up), then the bearer token, whose principal goes on the request context.
struct MCPAccessMiddleware: RouterMiddleware {
    typealias Context = BrokerRequestContext
    let policy: MCPRequestPolicy
    let bearer: BearerAuthenticator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try policy.checkHost(request)
        try policy.checkOrigin(request)
        var context = context
        context.principal = try await bearer.authenticate(request, context: context)
        return try await next(request, context)
    }
}

extension BrokerRequestContext {
    /// The admitted caller of an `/mcp` request. Only a route outside the access middleware
    /// could reach the error, which would be a wiring mistake, not a client's.
    var owner: SessionOwner {
        get throws {
            guard let principal else { throw HTTPError(.internalServerError, message: "request not admitted") }
            return SessionOwner(principal)
        }
    }
}
