import Foundation
import Logging
import XCTest

@testable import BrokerKit

/// When a user's shared child is too close to its token's expiry to take a request: within the
/// margin derived from the token's real lifetime. A fixed one-minute margin made every request
/// start a new child once Forgejo's tokens lived a minute or less. (Without thresholds the host's
/// one-minute fallback applies: ChildHostUserChildTests.)
final class UserChildRetirementTests: XCTestCase {
    /// Tokens with `lifetime` and its thresholds, of which only `left` seconds remain when handed out.
    actor ShortTokens: UpstreamTokenProvider {
        let lifetime: TimeInterval
        let left: TimeInterval
        private(set) var issued = 0

        init(lifetime: TimeInterval, left: TimeInterval) {
            self.lifetime = lifetime
            self.left = left
        }

        func accessToken(userID: Int64) async throws(UpstreamCredentialError) -> UpstreamCredential {
            issued += 1
            return UpstreamCredential(token: "token-\(userID)-\(issued)", expiresAt: Date().addingTimeInterval(left), generation: Int64(issued),
                                      thresholds: UpstreamTokenThresholds(lifetime: lifetime, policy: UpstreamRefreshPolicy()))
        }
    }

    private let alice = SessionOwner(userID: 1, login: "alice", clientID: "c1")

    private func host(_ tokens: ShortTokens) throws -> ChildHost {
        let config = try BrokerConfig.load(from: ConfigSource(environment: [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:9", "FORGEJO_URL": "http://127.0.0.1:1", "FORGEJO_CLIENT_ID": "id",
            "FORGEJO_CLIENT_SECRET": "secret", "FJMCP_DATA_DIR": NSTemporaryDirectory(),
            "FJMCP_CHILD_COMMAND": DemoBinary.path + " --no-forgejo-check", "FJMCP_CHILD_STOP_GRACE": "300ms", "FJMCP_CHILD_SANDBOX": "off",
        ]))
        return ChildHost(limits: SessionRegistryLimits(config.sessions), launcher: ChildLauncher(config: config, brokerEnvironment: [:]),
                         tokens: tokens, logger: Logger(label: "user-child-retirement-tests"))
    }

    /// Two requests in a row on one child: whether the second got a new process.
    private func secondRequestGotANewProcess(_ tokens: ShortTokens) async throws -> Bool {
        let host = try host(tokens)
        let first = try await host.acquireUserChild(owner: alice)
        let firstProcess = first.child.child
        await first.release()
        let second = try await host.acquireUserChild(owner: alice)
        let secondProcess = second.child.child
        await second.release()
        await host.shutdown()
        return firstProcess !== secondProcess
    }

    func testA20SecondTokenWithMostOfItsLifeLeftKeepsItsChild() async throws {
        let tokens = ShortTokens(lifetime: 20, left: 19)
        let replaced = try await secondRequestGotANewProcess(tokens)
        XCTAssertFalse(replaced, "19 s left of a 20 s token is far from its 1 s retirement margin")
        let issued = await tokens.issued
        XCTAssertEqual(issued, 1)
    }

    func testA20SecondTokenInsideItsRetirementMarginGetsANewProcessFirst() async throws {
        let tokens = ShortTokens(lifetime: 20, left: 0.5)
        let replaced = try await secondRequestGotANewProcess(tokens)
        XCTAssertTrue(replaced, "0.5 s left is inside the 1 s margin of a 20 s token")
    }
}
