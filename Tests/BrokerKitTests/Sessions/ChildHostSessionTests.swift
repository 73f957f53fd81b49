import Foundation
import Logging
import XCTest

@testable import BrokerKit

/// Registry rules without HTTP: owner binding, revocation by user, credential failures.
final class ChildHostSessionTests: XCTestCase {
    struct FixedTokens: UpstreamTokenProvider {
        let failure: UpstreamCredentialError?

        func accessToken(userID: Int64) async throws(UpstreamCredentialError) -> UpstreamCredential {
            if let failure { throw failure }
            return UpstreamCredential(token: "token-\(userID)", expiresAt: nil)
        }
    }

    private func registry(tokens: FixedTokens = FixedTokens(failure: nil), childOptions: String = "",
                          initializeTimeout: Duration = .seconds(30), records: (any BrokerStore)? = nil,
                          maxBufferedEventBytes: Int = BufferBound.defaultLimit) throws -> ChildHost {
        let config = try BrokerConfig.load(from: ConfigSource(environment: [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:9", "FORGEJO_URL": "http://127.0.0.1:1", "FORGEJO_CLIENT_ID": "id",
            "FORGEJO_CLIENT_SECRET": "secret", "FJMCP_DATA_DIR": NSTemporaryDirectory(),
            "FJMCP_CHILD_COMMAND": DemoBinary.path + " --no-forgejo-check " + childOptions, "FJMCP_CHILD_STOP_GRACE": "300ms", "FJMCP_CHILD_SANDBOX": "off",
        ]))
        var limits = SessionRegistryLimits(config.sessions)
        limits.initializeTimeout = initializeTimeout
        limits.maxBufferedEventBytes = maxBufferedEventBytes
        return ChildHost(limits: limits, launcher: ChildLauncher(config: config, brokerEnvironment: [:]),
                               tokens: tokens, logger: Logger(label: "session-registry-tests"), records: records)
    }

    /// A session id nobody holds a child for while the records cannot be read: 503 "try again",
    /// never 404 (which would make a client drop a session that may be resumable in a moment).
    func testAnUnreadableSessionStoreIsTemporaryNotNotFound() async throws {
        let directory = NSTemporaryDirectory() + "child-host-store-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(path: directory + "/broker.sqlite")
        try store.close()
        let host = try registry(records: store)
        do {
            _ = try await host.acquire(id: "some-session", owner: SessionOwner(userID: 1, login: "alice", clientID: "c1"))
            XCTFail("an unreadable store must not look like a resumed session")
        } catch {
            XCTAssertEqual(error, .storeUnavailable)
            XCTAssertEqual(error.httpStatus, 503)
        }
    }

    /// The GET stream (and its backlog) of a session is bounded by the configured
    /// `FJMCP_MAX_BUFFERED_EVENT_BYTES`, not a fixed 4 MiB a smaller setting would undercut.
    func testASessionsGETStreamHasTheConfiguredBound() async throws {
        let host = try registry(maxBufferedEventBytes: 100_000)
        let owner = SessionOwner(userID: 7, login: "grace", clientID: "c7")
        let session = try await open(host, owner)
        let limit = await session.serverStream.byteLimit
        XCTAssertEqual(limit, 100_000)
        await host.shutdown()
    }

    private var initialize: JSONRPCMessage {
        get throws {
            try JSONRPCMessage(Array(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#.utf8))
        }
    }

    private func open(_ registry: ChildHost, _ owner: SessionOwner) async throws -> HostedChild {
        guard case .opened(let id, _) = try await registry.open(owner: owner, initialize: try initialize) else {
            throw XCTSkip("the demo child rejected initialize")
        }
        return try await registry.lookup(id: id, owner: owner)
    }

    func testSessionsAreBoundToUserAndClientAndEndPerUser() async throws {
        let registry = try registry()
        let alice = SessionOwner(userID: 1, login: "alice", clientID: "c1")
        let first = try await open(registry, alice)
        let second = try await open(registry, alice)
        let bob = try await open(registry, SessionOwner(userID: 2, login: "bob", clientID: "c1"))
        XCTAssertEqual(first.protocolVersion, "2025-06-18")
        XCTAssertNotEqual(first.sessionID, second.sessionID)

        let otherClient = SessionOwner(userID: 1, login: "alice", clientID: "c2")
        do {
            _ = try await registry.acquire(id: first.sessionID ?? "", owner: otherClient)
            XCTFail("another client of the same user must not use the session")
        } catch {
            XCTAssertEqual(error, .notFound)
        }

        await registry.endUser(1, reason: .userSessionsEnded)
        let remaining = await registry.summaries().filter { $0.userID == 1 }
        XCTAssertEqual(remaining, [])
        let bobStillThere = try await registry.lookup(id: bob.sessionID ?? "", owner: SessionOwner(userID: 2, login: "bob", clientID: "c1"))
        XCTAssertEqual(bobStillThere.sessionID, bob.sessionID)
        await registry.shutdown()
        let count = await registry.sessionCount
        XCTAssertEqual(count, 0)
    }

    func testCredentialFailuresAreLoginRequiredOrUnavailable() async throws {
        let owner = SessionOwner(userID: 1, login: "alice", clientID: "c1")
        for (failure, expected) in [
            (UpstreamCredentialError.loginRequired(reason: "gone"), SessionError.loginRequired(reason: "gone")),
            (.unavailable(reason: "store"), .upstreamUnavailable(reason: "store")),
        ] {
            let registry = try registry(tokens: FixedTokens(failure: failure))
            let message = try initialize
            do {
                _ = try await registry.open(owner: owner, initialize: message)
                XCTFail("no session without a credential")
            } catch {
                XCTAssertEqual(error, expected)
            }
        }
    }

    func testAChildThatNeverAnswersInitializeFailsWithinTheBound() async throws {
        let registry = try registry(childOptions: "--slow-start 20000", initializeTimeout: .milliseconds(300))
        let message = try initialize
        let started = ContinuousClock.now
        do {
            _ = try await registry.open(owner: SessionOwner(userID: 1, login: "alice", clientID: "c1"), initialize: message)
            XCTFail("no session without an initialize answer")
        } catch {
            guard case .childStartFailed(let detail) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.contains("no answer to initialize"), detail)
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
        let count = await registry.sessionCount
        XCTAssertEqual(count, 0)
    }
}
