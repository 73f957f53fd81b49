import BrokerKit
import FakeForgejo
import Foundation
import Synchronization
import XCTest

/// The pooled children of the 2026-07-28 era follow the broker's token manager like sessions
/// do (fake Forgejo with controlled clocks, the whole assembly as `serve` runs it): a refreshed
/// Forgejo token replaces the user's child without failing a request, and a dead grant stops it.
final class ModernTokenSwapTests: XCTestCase {
    /// Past the 80 % refresh point of Forgejo's default 3600 s token, before it expires.
    static let step = 3000

    private static func whoami(_ client: MCPTestClient, id: Int) async throws -> (pid: Int, fingerprint: String)? {
        let reply = try await client.modern(id: id, method: "tools/call", params: ["name": "whoami", "arguments": [:]])
        guard reply.status == 200, let pid = reply.structured?["pid"] as? Int,
            let fingerprint = reply.structured?["tokenFingerprint"] as? String
        else { return nil }
        return (pid, fingerprint)
    }

    func testModernTokenRefreshReplacesThePooledChildWithoutAFailedRequest() async throws {
        let broker = try await TokenLifecycleBroker.start()
        addTeardownBlock { await broker.stop() }
        let (client, _) = try await broker.login()
        let initial = try await Self.whoami(client, id: 1)
        var current = try XCTUnwrap(initial)
        let host = broker.assembly.host

        // Modern traffic all along: quick calls, slow ones that straddle the swap, and echoes.
        let stats = LoadStats()
        let workers = (0..<4).map { worker in
            Task { [stats] in
                var id = 1000 * (worker + 1)
                while stats.running.withLock({ $0 }) {
                    id += 1
                    let params: [String: Any] =
                        switch id % 3 {
                        case 0: ["name": "sleep", "arguments": ["ms": 150]]
                        case 1: ["name": "echo", "arguments": ["text": "w\(worker)-\(id)"]]
                        default: ["name": "whoami", "arguments": [:]]
                        }
                    do {
                        let reply = try await client.modern(id: id, method: "tools/call", params: params)
                        if reply.status == 200, reply.result?["isError"] as? Bool == false {
                            stats.succeeded.withLock { $0 += 1 }
                        } else {
                            stats.failures.withLock { $0.append("\(id): \(reply.status) \(reply.body.prefix(200))") }
                        }
                    } catch {
                        stats.failures.withLock { $0.append("\(id): \(error)") }
                    }
                }
            }
        }
        for round in 1...3 {
            // Each swap happens under load: the workers have made progress since the last one.
            let busy = await eventually { stats.succeeded.withLock { $0 } >= 10 * round }
            XCTAssertTrue(busy, "round \(round): the load is not making progress")
            await broker.advanceClocks(seconds: Self.step)
            let swapped = await eventually(timeout: .seconds(20)) {
                guard let now = try? await Self.whoami(client, id: 90 + round), now.fingerprint != current.fingerprint else { return false }
                XCTAssertNotEqual(now.pid, current.pid, "a new child process runs the new token")
                current = now
                return true
            }
            XCTAssertTrue(swapped, "round \(round): the pooled child still runs the old token")
            let refreshes = await broker.refreshes()
            XCTAssertEqual(refreshes, round)
        }
        stats.running.withLock { $0 = false }
        for worker in workers { await worker.value }
        XCTAssertEqual(stats.failures.withLock { $0 }, [])
        XCTAssertGreaterThanOrEqual(stats.succeeded.withLock { $0 }, 30)
        let drained = await eventually { await host.childCount == 1 }
        XCTAssertTrue(drained, "replaced children stop once their requests are answered")
    }

    func testModernDeadForgejoGrantStopsThePooledChild() async throws {
        let broker = try await TokenLifecycleBroker.start()
        addTeardownBlock { await broker.stop() }
        let (client, _) = try await broker.login()
        let initial = try await Self.whoami(client, id: 1)
        let first = try XCTUnwrap(initial)
        try await broker.forgejo.state.revokeGrant(login: "alice", clientID: OAuthTestBroker.forgejoClientID)
        await broker.advanceClocks(seconds: Self.step)
        let ended = await eventually(timeout: .seconds(20)) { await broker.assembly.host.childCount == 0 }
        XCTAssertTrue(ended, "the pooled child outlived its user's Forgejo grant")
        let gone = await eventually { !processExists(Int32(first.pid)) }
        XCTAssertTrue(gone, "child \(first.pid) is still running")
        let next = try await client.modern(id: 2, method: "tools/list")
        XCTAssertEqual(next.status, 401, "the client must sign in again: \(next.body)")
    }
}

/// What the modern load saw, shared by its worker tasks.
private final class LoadStats: Sendable {
    let failures = Mutex<[String]>([])
    let succeeded = Mutex(0)
    let running = Mutex(true)
}
