import AsyncHTTPClient
@testable import BrokerKit
import FakeForgejo
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import XCTest

/// `/readyz` answers from the last background Forgejo probe: a hung Forgejo neither delays it
/// (it took the API client's 10 s request timeout before) nor keeps it reading "ok".
final class ReadinessMonitorTests: XCTestCase {
    /// State the probes and the test share.
    final class Flags: Sendable {
        let hung = Mutex(true)
        let probes = Mutex(0)
    }

    /// A Forgejo whose `/api/v1/version` answers, or hangs while `flags.hung` (until the server stops).
    final class SwitchableForgejo: Sendable {
        let flags = Flags()
        private let server: BackgroundServer
        var baseURL: String { "http://127.0.0.1:\(server.port)" }

        init() async throws {
            var logger = Logger(label: "hung-forgejo")
            logger.logLevel = .critical
            let flags = self.flags
            let router = Router()
            router.get("/api/v1/version") { _, _ -> Response in
                flags.probes.withLock { $0 += 1 }
                while flags.hung.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(20)) }
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: #"{"version":"12.0.0"}"#)))
            }
            server = try await BackgroundServer.start(logger: logger) { onServerRunning in
                Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                            onServerRunning: onServerRunning, logger: logger)
            }
        }

        func stop() async { await server.stop(grace: .milliseconds(100)) }
    }

    func testReadyzAnswersAtOnceWhileForgejoHangsAndFollowsItsRecovery() async throws {
        let forgejoServer = try await SwitchableForgejo()
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        let forgejo = ForgejoClient(httpClient: httpClient, configuration: .init(
            baseURL: forgejoServer.baseURL, clientID: "id", clientSecret: "s", callbackURL: "https://mcp.example.org/oauth/callback"))
        // The production check, with a short interval and timeout so the test takes a second.
        let monitor = ReadinessMonitor(checks: [
            ReadinessCheck(name: "store", required: true) {},
            .forgejo(forgejo, every: .milliseconds(100), timeout: .milliseconds(600)),
        ])
        let monitoring = Task { try await monitor.run() }
        let config = try BrokerConfig.load(from: ConfigSource(environment: [
            "FJMCP_PUBLIC_URL": "https://mcp.example.org", "FORGEJO_URL": forgejoServer.baseURL,
            "FORGEJO_CLIENT_ID": "id", "FORGEJO_CLIENT_SECRET": "s",
        ]))
        let app = Application(router: BrokerServer.makeRouter(config: config, readiness: monitor, providers: []),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        do {
            try await app.test(.live) { client in
                func readyz() async throws -> (status: HTTPResponse.Status, body: String, elapsed: Duration) {
                    let start = ContinuousClock.now
                    return try await client.execute(uri: "/readyz", method: .get) {
                        ($0.status, String(buffer: $0.body), ContinuousClock.now - start)
                    }
                }
                // Forgejo hangs: the first probe is still waiting, /readyz does not.
                let first = try await readyz()
                XCTAssertEqual(first.status, .ok)
                XCTAssertEqual(first.body, #"{"checks":{"forgejo":"pending","store":"ok"},"status":"ok"}"#)
                // Waiting for Forgejo would take the probe's 600 ms; the requirement is 100 ms,
                // asserted with headroom for a loaded test machine.
                XCTAssertLessThan(first.elapsed, .milliseconds(300))

                let failing = try await Self.poll(readyz, until: { $0.body.contains(#""forgejo":"failing""#) })
                XCTAssertEqual(failing.status, .ok, "Forgejo is optional: degraded, still in rotation")
                XCTAssertEqual(failing.body, #"{"checks":{"forgejo":"failing","store":"ok"},"status":"degraded"}"#)
                XCTAssertLessThan(failing.elapsed, .milliseconds(300))
                XCTAssertGreaterThanOrEqual(forgejoServer.flags.probes.withLock { $0 }, 1)

                forgejoServer.flags.hung.withLock { $0 = false }
                let recovered = try await Self.poll(readyz, until: { $0.body.contains(#""forgejo":"ok""#) })
                XCTAssertEqual(recovered.body, #"{"checks":{"forgejo":"ok","store":"ok"},"status":"ok"}"#)
            }
        } catch {
            monitoring.cancel()
            throw error
        }
        // Cancelling stops the monitor even with a probe in flight.
        forgejoServer.flags.hung.withLock { $0 = true }
        try await Task.sleep(for: .milliseconds(150))
        monitoring.cancel()
        let stopped = ContinuousClock.now
        _ = await monitoring.result
        XCTAssertLessThan(ContinuousClock.now - stopped, .milliseconds(500))
        await forgejoServer.stop()
        try await httpClient.shutdown()
    }

    func testARequiredBackgroundCheckIsNotReadyUntilItsFirstSuccess() async throws {
        struct Down: Error {}
        let flags = Flags()
        let monitor = ReadinessMonitor(checks: [
            ReadinessCheck(name: "queue", required: true, schedule: .background(every: .milliseconds(50), timeout: .seconds(1))) {
                if flags.hung.withLock({ $0 }) { throw Down() }
            },
        ])
        let logger = Logger(label: "test")
        var result = await monitor.result(logger: logger)
        XCTAssertEqual(result.checks, ["queue": "pending"])
        XCTAssertFalse(result.ready)
        let monitoring = Task { try await monitor.run() }
        defer { monitoring.cancel() }
        let deadline = ContinuousClock.now + .seconds(5)
        while await monitor.result(logger: logger).checks["queue"] != "failing", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        result = await monitor.result(logger: logger)
        XCTAssertEqual(result.checks, ["queue": "failing"])
        XCTAssertFalse(result.ready)
        XCTAssertFalse(result.degraded, "a failing required check makes the broker unready, not degraded")
        flags.hung.withLock { $0 = false }
        while await monitor.result(logger: logger).checks["queue"] != "ok", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        result = await monitor.result(logger: logger)
        XCTAssertTrue(result.ready)
    }

    private static func poll<T>(_ read: () async throws -> T, until done: (T) -> Bool, within limit: Duration = .seconds(5)) async throws -> T {
        let deadline = ContinuousClock.now + limit
        while true {
            let value = try await read()
            if done(value) || ContinuousClock.now > deadline { return value }
            try await Task.sleep(for: .milliseconds(25))
        }
    }
}
