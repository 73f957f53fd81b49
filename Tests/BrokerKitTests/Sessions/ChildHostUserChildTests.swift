import Foundation
import Logging
import XCTest

@testable import BrokerKit

/// A user's shared child (2026-07-28 era) on the host, without HTTP: sharing, replacement
/// before its token runs out, idle reaping and shutdown, with the demo server as the child.
final class ChildHostUserChildTests: XCTestCase {
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

    private func host(tokens: Tokens, idleTimeout: Duration = .seconds(60)) throws -> ChildHost {
        let config = try BrokerConfig.load(from: ConfigSource(environment: [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:9", "FORGEJO_URL": "http://127.0.0.1:1", "FORGEJO_CLIENT_ID": "id",
            "FORGEJO_CLIENT_SECRET": "secret", "FJMCP_DATA_DIR": NSTemporaryDirectory(),
            "FJMCP_CHILD_COMMAND": DemoBinary.path + " --no-forgejo-check", "FJMCP_CHILD_STOP_GRACE": "300ms", "FJMCP_CHILD_SANDBOX": "off",
        ]))
        var limits = SessionRegistryLimits(config.sessions)
        limits.idleTimeout = idleTimeout
        let launcher = ChildLauncher(config: config, brokerEnvironment: [:])
        return ChildHost(limits: limits, launcher: launcher, tokens: tokens, logger: Logger(label: "child-host-user-child-tests"))
    }

    func testOneChildPerUserSharedByConcurrentFirstRequests() async throws {
        let tokens = Tokens(lifetime: nil)
        let host = try host(tokens: tokens)
        let alice = alice
        async let first = host.acquireUserChild(owner: alice)
        async let second = host.acquireUserChild(owner: alice)
        let (a, b) = try await (first, second)
        let c = try await host.acquireUserChild(owner: bob)
        XCTAssertTrue(a.child === b.child, "concurrent first requests of one user start one child")
        XCTAssertFalse(a.child === c.child)
        XCTAssertEqual(a.child.server.serverInfo.flatMap { String(data: $0, encoding: .utf8) }?.contains("fjmcp-demo"), true)
        let children = await host.userChildCount
        let issued = await tokens.issued
        XCTAssertEqual(children, 2)
        XCTAssertEqual(issued, 2)
        let busy = await host.busyCount
        XCTAssertEqual(busy, 3)
        for lease in [a, b, c] { await lease.release() }
        let idle = await host.busyCount
        XCTAssertEqual(idle, 0)
        let process = a.child.child
        await host.shutdown()
        let remaining = await host.childCount
        XCTAssertEqual(remaining, 0)
        let exit = await process.exit
        XCTAssertNotNil(exit, "shutdown waits until the children are gone")
    }

    func testAUserChildWhoseTokenIsNearlyUsedUpGetsANewProcessFirst() async throws {
        let host = try host(tokens: Tokens(lifetime: 30))
        let old = try await host.acquireUserChild(owner: alice)
        let oldProcess = old.child.child
        let fresh = try await host.acquireUserChild(owner: alice)
        let freshProcess = fresh.child.child
        XCTAssertTrue(old.child === fresh.child, "the user keeps one child: its process is replaced in place")
        XCTAssertFalse(oldProcess === freshProcess, "a token with less than a minute left gets no new requests")
        let exited = await eventually { await oldProcess.exit != nil }
        XCTAssertTrue(exited, "the replaced process ends once its requests are answered")
        await old.release()
        await fresh.release()
        await host.shutdown()
    }

    func testIdleUserChildrenAreReapedBusyOnesKept() async throws {
        let host = try host(tokens: Tokens(lifetime: nil), idleTimeout: .milliseconds(50))
        let lease = try await host.acquireUserChild(owner: alice)
        try await Task.sleep(for: .milliseconds(100))
        await host.reap()
        let busy = await host.userChildCount
        XCTAssertEqual(busy, 1, "a child with a request in flight is never idle")
        await lease.release()
        try await Task.sleep(for: .milliseconds(100))
        await host.reap()
        let idle = await host.userChildCount
        XCTAssertEqual(idle, 0)
        await host.shutdown()
    }
}
