import Dispatch
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// The audit trail: request paths hand records to ``record(_:)``, which only appends to a
/// bounded in-memory queue (a lock and an append, never I/O); this service's writer task
/// takes the queue every `flushInterval` and writes the batch
/// with one `write` to the file and one transaction to the store. When the queue is full, new
/// records are dropped, counted in `fjmcp_audit_dropped_total` and reported in one log line
/// per batch: a stalled disk must not stall tool calls. SIGHUP reopens the file (logrotate).
public final class AuditTrail: Service, Sendable {
    public struct Options: Sendable {
        public var capacity = 10_000
        /// With `capacity`, bounds the rate the trail keeps up with (10 000 records a second).
        public var flushInterval: Duration = .seconds(1)

        public init() {}
    }

    private struct Queue {
        var records: [AuditRecord] = []
        var dropped = 0
    }

    private let settings: AuditSettings
    private let store: (any AuditStore)?
    private let options: Options
    private let logger: Logger
    private let queue = Mutex(Queue())
    private let reopenRequested = Atomic(false)

    /// `store` receives records only when `settings` keeps them (retention above zero).
    public init(settings: AuditSettings, store: (any AuditStore)?, options: Options = Options(), logger: Logger) {
        self.settings = settings
        self.store = settings.storesRecords ? store : nil
        self.options = options
        self.logger = logger
    }

    /// Whether any sink is configured; without one, records are not even queued.
    public var isEnabled: Bool { settings.logPath != nil || store != nil }

    /// Queues a record; never blocks on I/O.
    public func record(_ record: AuditRecord) {
        guard isEnabled else { return }
        let capacity = options.capacity
        queue.withLock { queue in
            if queue.records.count < capacity {
                queue.records.append(record.bounded)
            } else {
                queue.dropped += 1
            }
        }
    }

    public func run() async throws {
        let file = settings.logPath.map(AuditFileSink.init(path:))
        if let file, let problem = file.reopen() {
            logger.error("audit log cannot be opened", metadata: ["path": "\(file.path)", "error": "\(problem)"])
        }
        let hangups = file.map { _ in HangupSignal.watch { [self] in reopenRequested.store(true, ordering: .relaxed) } }
        defer { hangups.map(HangupSignal.unwatch) }
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { [options] in try await Task.sleep(for: options.flushInterval) }
            await flush(to: file)
        }
        // Shutdown: what is queued still goes out.
        await flush(to: file)
        file?.close()
    }

    /// Writes everything queued now; tests call it to make records visible.
    func flush() async {
        await flush(to: settings.logPath.map(AuditFileSink.init(path:)))
    }

    private func flush(to file: AuditFileSink?) async {
        let (batch, dropped) = queue.withLock { queue in
            defer { (queue.records, queue.dropped) = ([], 0) }
            return (queue.records, queue.dropped)
        }
        if dropped > 0 {
            Counter(label: "fjmcp_audit_dropped_total").increment(by: Int64(dropped))
            logger.warning("audit queue full, records dropped", metadata: ["dropped": "\(dropped)", "capacity": "\(options.capacity)"])
        }
        guard !batch.isEmpty else { return }
        if let file {
            if reopenRequested.exchange(false, ordering: .relaxed), let problem = file.reopen() {
                logger.error("audit log cannot be reopened", metadata: ["path": "\(file.path)", "error": "\(problem)"])
            }
            if let problem = file.write(batch.flatMap(\.jsonLine)) {
                Counter(label: "fjmcp_audit_write_failures_total", dimensions: [("sink", "file")]).increment()
                logger.error("audit log write failed", metadata: ["path": "\(file.path)", "records": "\(batch.count)", "error": "\(problem)"])
            }
        }
        if let store {
            do {
                try await store.insertAuditRecords(batch)
            } catch {
                Counter(label: "fjmcp_audit_write_failures_total", dimensions: [("sink", "store")]).increment()
                logger.error("audit records could not be stored", metadata: ["records": "\(batch.count)", "error": "\(error)"])
            }
        }
        Counter(label: "fjmcp_audit_records_total").increment(by: Int64(batch.count))
    }
}
