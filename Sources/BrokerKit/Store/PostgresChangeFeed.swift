import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Changes between broker processes on one PostgreSQL database, over `LISTEN`/`NOTIFY`: publishes
/// with `pg_notify` on the pool, listens on one connection leased from the pool for as long as it
/// lives, and leases a new one with backoff when it is lost. Notifications are not queued for a
/// listener that is away, so each (re)connect tells the consumer to re-read state.
public final class PostgresChangeFeed: StoreChangePublisher {
    /// The one channel every broker on the database uses.
    static let channel = "fjmcp_changes"

    public enum ListenerError: Error, CustomStringConvertible {
        case notListening

        public var description: String { "not listening for other brokers' changes" }
    }

    /// This process's tag on what it publishes, so it skips its own notifications.
    let origin: String
    private let store: PostgresStore
    private let logger: Logger
    private let backoff: (initial: Duration, maximum: Duration)
    /// How often the listening connection is asked a trivial query, and how long its answer may take.
    private let liveness: (every: Duration, timeout: Duration)
    private let listening = Atomic<Bool>(false)

    init(store: PostgresStore, logger: Logger, origin: String = UUID().uuidString.lowercased(),
         backoff: (initial: Duration, maximum: Duration) = (.milliseconds(100), .seconds(30)),
         liveness: (every: Duration, timeout: Duration) = (.seconds(30), .seconds(5))) {
        self.store = store
        self.logger = logger
        self.origin = origin
        self.backoff = backoff
        self.liveness = liveness
    }

    public func publish(_ change: StoreChange) async {
        do {
            try await store.rows("SELECT pg_notify(\(Self.channel), \(change.payload(origin: origin)))")
        } catch {
            logger.warning("change not published to other brokers", metadata: [
                "change": .string(change.kind), "error": .string(PostgresStore.describe(error)),
            ])
        }
    }

    /// Whether the listener holds a connection with `LISTEN` in effect.
    public var isListening: Bool { listening.load(ordering: .acquiring) }

    /// Throws while the listener is down.
    public func checkListening() throws(ListenerError) {
        guard isListening else { throw .notListening }
    }

    /// `/readyz`'s `change_listener`, required: a broker that cannot hear revocations elsewhere
    /// would serve revoked tokens for up to the cache TTL, so it is not ready while it is down.
    public var readinessCheck: ReadinessCheck {
        ReadinessCheck(name: "change_listener", required: true) { [self] in try checkListening() }
    }

    /// Delivers other processes' changes to `consumer` until cancelled, reconnecting with
    /// exponential backoff (reset once a connection listens again).
    public func listen(delivering consumer: some StoreChangeConsumer) async {
        var delay = backoff.initial
        while !Task.isCancelled {
            do {
                try await store.client.withConnection { connection in
                    try await connection.listen(on: Self.channel) { notifications in
                        listening.store(true, ordering: .releasing)
                        delay = backoff.initial
                        logger.info("listening for other brokers' changes")
                        await consumer.resynchronize()
                        let watchdog = Task { [liveness, logger] in await Self.watch(connection, liveness: liveness, logger: logger) }
                        defer { watchdog.cancel() }
                        for try await notification in notifications { await deliver(notification.payload, to: consumer) }
                    }
                }
            } catch {
                listening.store(false, ordering: .releasing)
                guard !Task.isCancelled else { break }
                logger.warning("not listening for other brokers' changes, retrying", metadata: [
                    "error": .string(PostgresStore.describe(error)), "retry_in": "\(delay)",
                ])
            }
            listening.store(false, ordering: .releasing)
            do { try await Task.sleep(for: delay) } catch { break }
            delay = min(delay * 2, backoff.maximum)
        }
        listening.store(false, ordering: .releasing)
    }

    /// A listening connection only ever receives, so one that died silently (a half-open TCP
    /// connection after a NAT timeout, a failover without a reset) would look alive for hours
    /// while other brokers' revocations stopped arriving. A trivial query answered in time proves
    /// it alive; otherwise it is closed, which ends the listen and starts a reconnect (and with
    /// it the cache's re-synchronization). The query is not raced in a task group: on a dead
    /// connection it would never return, and a group waits for its children.
    private static func watch(_ connection: PostgresConnection, liveness: (every: Duration, timeout: Duration), logger: Logger) async {
        while !connection.isClosed {
            do { try await Task.sleep(for: liveness.every) } catch { return }
            let closer = Task {
                try await Task.sleep(for: liveness.timeout)
                logger.warning("the change listener's connection did not answer in time, reconnecting")
                try? await connection.close().get()
            }
            _ = try? await connection.query("SELECT 1", logger: logger)
            closer.cancel()
        }
    }

    private func deliver(_ payload: String, to consumer: some StoreChangeConsumer) async {
        do {
            let (origin, change) = try StoreChange.decode(payload)
            guard origin != self.origin else { return }
            await consumer.apply(change)
        } catch {
            // Possibly another program's text: its size and what is wrong with it, not its content.
            logger.warning("notification not understood, skipped", metadata: ["error": "\(error)", "bytes": "\(payload.utf8.count)"])
        }
    }
}

/// Runs a feed's listener as one of the broker's services, until graceful shutdown.
struct StoreChangeListener<Consumer: StoreChangeConsumer>: Service {
    let feed: PostgresChangeFeed
    let consumer: Consumer

    func run() async {
        let (feed, consumer) = (feed, consumer)
        await cancelWhenGracefulShutdown { await feed.listen(delivering: consumer) }
    }
}
