import CConcurrencyHook
import NIOCore
import NIOPosix

/// Where Swift Concurrency runs its jobs in the broker process.
public enum ConcurrencyOnEventLoops {
    /// Makes the NIO singleton event loops (the ones the HTTP server and client use) Swift
    /// Concurrency's global executor, running each job as the *generic* executor would.
    ///
    /// Every MCP call crosses between the event loop (socket I/O) and tasks and actors (bridge,
    /// session, child) many times. With separate pools each crossing woke another thread (perf:
    /// ~9 context switches per call at 1 concurrent). NIO's own take-over
    /// (`NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor`)
    /// keeps them on one thread, but runs each job as isolated to the event loop's serial
    /// executor: a nonisolated async function then cannot continue inline after any await that
    /// could have changed executors (a middleware's `next`, an actor call, a returning callee),
    /// so every such resumption was another trip through the loop's task queue — about 70 per
    /// legacy `tools/call` (uprobes on `swift_task_enqueueGlobal`), the largest single cost on
    /// the hot path. Run as generic, those switches take the runtime's inline fast path
    /// (generic ⇄ an idle default actor, generic → generic) and only real suspensions enqueue.
    ///
    /// Same mechanism as NIO's: the runtime's `swift_task_enqueueGlobal_hook`, set once before
    /// any task is enqueued, sending each job to the current event loop (sticky; any loop of the
    /// group from other threads). Jobs for executors of their own (actors bound to an event
    /// loop's executor) do not pass through this hook and keep that isolation. The hook is
    /// reached through a C shim resolved at link time: NIO finds it with `dlsym`, which sees
    /// nothing in a `--static-swift-stdlib` build (the release tarball and the container image),
    /// so there the take-over silently did not happen.
    ///
    /// Call once, first thing in `main`, before any other thread exists. Returns false when the
    /// hook was already taken (the default pool is then kept).
    @discardableResult
    public static func install() -> Bool {
        let slot = fjmcp_enqueue_global_hook_slot()
        guard slot.pointee == nil else { return false }
        let hook: EnqueueGlobalHook = { job, _ in
            MultiThreadedEventLoopGroup.singleton.any().execute { runJob(job, genericExecutor) }
        }
        slot.pointee = unsafeBitCast(hook, to: UnsafeMutableRawPointer.self)
        return true
    }

    /// Whether Swift Concurrency's jobs go to a hook (this one, after `install()`) rather than
    /// the default pool: the broker says so in its startup line.
    public static var isInstalled: Bool { fjmcp_enqueue_global_hook_slot().pointee != nil }

    /// The hook's type in the runtime: the job, and the enqueue it replaces.
    private typealias EnqueueGlobalHook = @convention(thin) (UnownedJob, @convention(thin) (UnownedJob) -> Void) -> Void
}

/// The runtime's entry for running a job on an executor (what `UnownedJob.runSynchronously(on:)`
/// calls), reached directly because the generic executor has no public `UnownedSerialExecutor`.
@_silgen_name("swift_job_run")
private func runJob(_ job: UnownedJob, _ executor: UnownedSerialExecutor)

/// The runtime's generic executor reference (`SerialExecutorRef::generic()`: no identity, no
/// witness table), which the default global executor runs every job with.
private let genericExecutor = unsafeBitCast((0 as UInt, 0 as UInt), to: UnownedSerialExecutor.self)
