import Hummingbird

/// Stand-in for the MCP endpoint until the session broker exists: proves the bearer check end
/// to end. Delete this file (and its registration) when `/mcp` is served for real.
public struct MCPPlaceholderRoute: RouteProvider {
    let bearer: BearerAuthenticator

    public init(bearer: BearerAuthenticator) { self.bearer = bearer }

    public func addRoutes(to router: Router<BrokerRequestContext>) {
        for method in [HTTPRequest.Method.post, .get, .delete] {
            router.on("/mcp", method: method) { request, context in
                let principal = try await bearer.authenticate(request, context: context)
                return JSONResponse.make(object: ["authenticated": principal.login])
            }
        }
    }
}
