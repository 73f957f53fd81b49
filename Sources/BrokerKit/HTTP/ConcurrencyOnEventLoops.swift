import NIOCore
import NIOPosix

/// Where Swift Concurrency runs its jobs in the broker process.
public enum ConcurrencyOnEventLoops {
    /// Makes the NIO singleton event loops (the ones the HTTP server and client use) Swift
    /// Concurrency's global executor. Every MCP call crosses between the event loop (socket I/O)
    /// and tasks and actors (bridge, session, child) several times; with separate pools each
    /// crossing woke another thread (perf: ~9 context switches per call at 1 concurrent, the largest
    /// single cost). On the event loops a hop is a local enqueue on the same thread.
    ///
    /// Call once, first thing in `main`, before any task runs; later calls trap (NIO's rule).
    /// Returns false where NIO cannot install the hook (the default pool is then kept).
    @discardableResult
    public static func install() -> Bool {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
}
