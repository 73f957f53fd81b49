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
    private let task: Task<Void, any Error>

    public enum StartError: Error {
        /// The server ended before reporting its address (e.g. the port was taken).
        case notStarted
    }

    private init(baseURL: String, state: FakeForgejoState, task: Task<Void, any Error>) {
        self.baseURL = baseURL
        self.state = state
        self.task = task
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

        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "fake-forgejo")
        logger.logLevel = .warning
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "fake-forgejo"),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? port)
                portContinuation.finish()
            },
            logger: logger)
        let task = Task {
            defer { portContinuation.finish() }
            try await app.run()
        }
        guard let boundPort = await ports.first(where: { _ in true }) else {
            try await task.value
            throw StartError.notStarted
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let baseURL = "http://\(hostPart):\(boundPort)"
        await state.setRootURL(baseURL)
        return FakeForgejoServer(baseURL: baseURL, state: state, task: task)
    }

    public func stop() async {
        task.cancel()
        _ = await task.result
    }
}
