import Hummingbird

/// Applies queued `FakeFault`s to the token endpoint and the API before the real handlers run.
struct FaultMiddleware: RouterMiddleware {
    typealias Context = FakeRequestContext

    let state: FakeForgejoState

    /// Thrown from a response body so the server drops the connection mid-response.
    struct ConnectionDropped: Error {}

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        let target: FakeFaultTarget? =
            path == "/login/oauth/access_token" ? .token : path.hasPrefix("/api/v1/") ? .api : nil
        guard let target, let fault = await state.takeFault(for: target) else {
            return try await next(request, context)
        }
        switch fault {
        case .serverError:
            return FakeResponses.text("Internal Server Error", status: .internalServerError)
        case .htmlGarbage:
            return FakeResponses.html("<!DOCTYPE html><html><head><title>Forgejo</title></head><body>oops</body></html>")
        case .omitRefreshToken:
            var context = context
            context.omitRefreshToken = true
            return try await next(request, context)
        case .hang(let milliseconds):
            try await Task.sleep(for: .milliseconds(milliseconds))
            return try await next(request, context)
        case .closeConnection:
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody { _ in throw ConnectionDropped() })
        }
    }
}
