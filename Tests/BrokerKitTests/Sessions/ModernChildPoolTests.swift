import Foundation
import Logging
import XCTest

@testable import BrokerKit

/// The per-user child pool of the 2026-07-28 era without HTTP: sharing, token-expiry
/// retirement, idle reaping and shutdown, with the demo server as the child.
final class ModernChildPoolTests: XCTestCase {
    /// Tokens that expire `lifetime` after they are handed out; counts how many were asked for.
    actor Tokens: UpstreamTokenProvider {
        let lifetime: TimeInterval?
        private(set) var issued = 0

        init(lifetime: TimeInterval?) {
            self.lifetime = lifetime
        }

        func accessToken(userID: Int64) async throws(UpstreamCredentialError) -> UpstreamCredential {
            issued += 1
            return UpstreamCredential(token: "token-\(userID)-\(issued)", expiresAt: lifetime.map { Date().addingTimeInterval($0) })
        }
    }

    private let alice = SessionOwner(userID: 1, login: "alice", clientID: "c1")
    private let bob = SessionOwner(userID: 2, login: "bob", clientID: "c1")

    private func pool(tokens: Tokens, idleTimeout: Duration = .seconds(60)) throws -> ModernChildPool {
        let config = try BrokerConfig.load(from: ConfigSource(environment: [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:9", "FORGEJO_URL": "http://127.0.0.1:1", "FORGEJO_CLIENT_ID": "id",
            "FORGEJO_CLIENT_SECRET": "secret", "FJMCP_DATA_DIR": NSTemporaryDirectory(),
            "FJMCP_CHILD_COMMAND": DemoBinary.path + " --no-forgejo-check", "FJMCP_CHILD_STOP_GRACE": "300ms",
        ]))
        var limits = SessionRegistryLimits(config.sessions)
        limits.idleTimeout = idleTimeout
        let launcher = ChildLauncher(config: config, brokerEnvironment: [:])
        let logger = Logger(label: "modern-child-pool-tests")
        let registry = SessionRegistry(limits: limits, launcher: launcher, tokens: tokens, logger: logger)
        return ModernChildPool(limits: limits, registry: registry, launcher: launcher, tokens: tokens, logger: logger)
    }

    func testModernPoolSharesOneChildPerUser() async throws {
        let tokens = Tokens(lifetime: nil)
        let pool = try pool(tokens: tokens)
        let alice = alice
        async let first = pool.acquire(owner: alice)
        async let second = pool.acquire(owner: alice)
        let (a, b) = try await (first, second)
        let c = try await pool.acquire(owner: bob)
        XCTAssertEqual(a.serial, b.serial, "concurrent first requests of one user start one child")
        XCTAssertNotEqual(a.serial, c.serial)
        XCTAssertEqual(a.server.serverInfo.flatMap { String(data: $0, encoding: .utf8) }?.contains("fjmcp-demo"), true)
        let children = await pool.childCount
        let issued = await tokens.issued
        XCTAssertEqual(children, 2)
        XCTAssertEqual(issued, 2)
        for child in [a, b, c] { await pool.release(child) }
        await pool.shutdown()
        let remaining = await pool.childCount
        XCTAssertEqual(remaining, 0)
        let exit = await a.bridge.child.exit
        XCTAssertNotNil(exit, "shutdown waits until the children are gone")
    }

    func testModernPoolRetiresAChildWhoseTokenIsNearlyUsedUp() async throws {
        let pool = try pool(tokens: Tokens(lifetime: 30))
        let old = try await pool.acquire(owner: alice)
        let fresh = try await pool.acquire(owner: alice)
        XCTAssertNotEqual(old.serial, fresh.serial, "a token with less than a minute left gets no new requests")
        let both = await pool.childCount
        XCTAssertEqual(both, 2, "the old child keeps answering its request")
        await pool.release(old)
        let drained = await eventually { await pool.childCount == 1 }
        XCTAssertTrue(drained, "the retired child ends once its last request is answered")
        let exited = await eventually { await old.bridge.child.exit != nil }
        XCTAssertTrue(exited)
        await pool.release(fresh)
        await pool.shutdown()
    }

    func testModernPoolReapsIdleChildren() async throws {
        let pool = try pool(tokens: Tokens(lifetime: nil), idleTimeout: .milliseconds(50))
        let child = try await pool.acquire(owner: alice)
        try await Task.sleep(for: .milliseconds(100))
        await pool.reap()
        let busy = await pool.childCount
        XCTAssertEqual(busy, 1, "a child with a request in flight is never idle")
        await pool.release(child)
        try await Task.sleep(for: .milliseconds(100))
        await pool.reap()
        let idle = await pool.childCount
        XCTAssertEqual(idle, 0)
        await pool.shutdown()
    }
}
