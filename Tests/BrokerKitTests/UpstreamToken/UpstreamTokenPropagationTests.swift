@testable import BrokerKit
import Foundation
import Logging
import Synchronization
import XCTest

/// A Forgejo token set rotated by one broker process reaches the others on the database: the
/// rotating manager publishes the new version, and a manager that tracks the user adopts the
/// stored set as after a lost compare-and-swap (its listeners, the child rotation, hear the new
/// generation) without asking Forgejo again.
final class UpstreamTokenPropagationTests: UpstreamTokenTestCase {
    func testARotationIsPublishedAndAnotherProcessTrackingTheUserAdoptsIt() async throws {
        try await harness.login()
        let secondStore = try SQLiteStore(path: harness.databasePath)
        defer { try? secondStore.close() }
        let published = RecordingPublisher()
        let first = harness.makeManager(changes: published)
        let second = harness.makeManager(store: secondStore)
        await second.track(userID: userID)
        let secondLog = await UpstreamTokenEventLog(second)
        await harness.advanceClocks(seconds: 60)

        let token = try await first.refresh(userID: userID)
        XCTAssertEqual(token.generation, 2)
        let userID = self.userID
        await upstreamEventually("the rotation's notification") { published.changes == [.upstreamTokensChanged(userID: userID, version: 2)] }

        // The notification as the second process's change listener applies it.
        try await propagatedChanges(tokenManager: second).apply(.upstreamTokensChanged(userID: userID, version: 2))
        await upstreamEventually("the adoption's refreshed event") { await secondLog.refreshedGenerations == [2] }
        let adopted = try await second.validAccessToken(userID: userID, minimumRemaining: .seconds(300))
        XCTAssertEqual(adopted, token)
        let refreshes = await harness.refreshCount()
        XCTAssertEqual(refreshes, 1, "the second process asked Forgejo nothing")
        // An adoption is not a rotation: nothing is published for it.
        XCTAssertEqual(published.changes.count, 1)
    }

    private func propagatedChanges(tokenManager: UpstreamTokenManager) throws -> PropagatedChanges {
        let config = try BrokerConfig.load(from: ConfigSource(environment: [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:9", "FORGEJO_URL": "http://127.0.0.1:1", "FORGEJO_CLIENT_ID": "id",
            "FORGEJO_CLIENT_SECRET": "secret", "FJMCP_DATA_DIR": NSTemporaryDirectory(), "FJMCP_CHILD_SANDBOX": "off",
        ]))
        let tokens = ManagedUpstreamTokenProvider(manager: tokenManager, minimumRemaining: .seconds(120))
        let host = ChildHost(limits: SessionRegistryLimits(config.sessions), launcher: ChildLauncher(config: config, brokerEnvironment: [:]),
                             tokens: tokens, logger: Logger(label: "test"))
        return PropagatedChanges(bearer: BearerAuthenticator(config: config, store: harness.store), host: host, tokenManager: tokenManager,
                                 logger: Logger(label: "test"))
    }
}

private final class RecordingPublisher: StoreChangePublisher {
    private let recorded = Mutex<[StoreChange]>([])

    var changes: [StoreChange] { recorded.withLock { $0 } }

    func publish(_ change: StoreChange) async { recorded.withLock { $0.append(change) } }
}
