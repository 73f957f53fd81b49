import Hummingbird
import Logging

/// A running fake Forgejo on a real socket.
///
/// Tests start one per case on port 0 and read `baseURL`; the demo mode of the broker starts one
/// in-process. `stop()` ends the server and waits for it.
public final class FakeForgejoServer: Sendable {
    /// e.g. `http://127.0.0.1:54321`, without a trailing slash.
    public let baseURL: String
    public let state: FakeForgejoState
    private let server: BackgroundServer

    private init(baseURL: String, state: FakeForgejoState, server: BackgroundServer) {
        self.baseURL = baseURL
        self.state = state
        self.server = server
    }

    public static func start(
        host: String = "127.0.0.1", port: Int = 0, options: FakeForgejoOptions
    ) async throws -> FakeForgejoServer {
        let state = try await FakeForgejoState(options: options)
        let router = Router(context: FakeRequestContext.self)
        router.add(middleware: FaultMiddleware(state: state))
        WebRoutes(state: state).register(on: router)
        TokenRoute(state: state).register(on: router)
        APIRoutes(state: state).register(on: router)
        ControlRoutes(state: state).register(on: router)

        var logger = Logger(label: "fake-forgejo")
        logger.logLevel = .warning
        let server = try await BackgroundServer.start(logger: logger) { onServerRunning in
            Application(
                router: router, configuration: .init(address: .hostname(host, port: port), serverName: "fake-forgejo"),
                onServerRunning: onServerRunning, logger: logger)
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let baseURL = "http://\(hostPart):\(server.port)"
        await state.setRootURL(baseURL)
        return FakeForgejoServer(baseURL: baseURL, state: state, server: server)
    }

    public func stop() async {
        await server.stop()
    }
}
