import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// A Hummingbird application serving in the background until `stop()`: the fake Forgejo and the
/// tests' helper servers. It stops through graceful shutdown, because cancelling the serving
/// task makes Hummingbird log an error for every connection still open.
public final class BackgroundServer: Sendable {
    public let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    public enum StartError: Error {
        /// The server ended before reporting its address (e.g. the port was taken).
        case notStarted
    }

    private init(port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.group = group
        self.task = task
    }

    /// Builds the application with the given `onServerRunning` callback and runs it; returns
    /// once it listens, with the bound port (so callers can ask for port 0).
    public static func start(
        logger: Logger, _ makeApplication: (_ onServerRunning: @escaping @Sendable (any Channel) async -> Void) -> some Service
    ) async throws -> BackgroundServer {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let application = makeApplication { channel in
            continuation.yield(channel.localAddress?.port ?? 0)
            continuation.finish()
        }
        let group = ServiceGroup(configuration: .init(services: [application], gracefulShutdownSignals: [], logger: logger))
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        guard let port = await ports.first(where: { _ in true }) else {
            try await task.value
            throw StartError.notStarted
        }
        return BackgroundServer(port: port, group: group, task: task)
    }

    /// Graceful shutdown waits for requests in flight; one that a test made hang on purpose
    /// is cut off after `grace`.
    public func stop(grace: Duration = .milliseconds(500)) async {
        await group.triggerGracefulShutdown()
        let task = task
        let deadline = Task {
            try await Task.sleep(for: grace)
            task.cancel()
        }
        _ = await task.result
        deadline.cancel()
    }
}
