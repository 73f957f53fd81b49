import AsyncHTTPClient
import BrokerKit
import Crypto
import FakeForgejo
import Foundation
import Logging
import NIOCore
import XCTest

/// A real fake Forgejo on loopback, a SQLite store in a temporary directory and a user "alice"
/// (Forgejo id 42) logged in the way the broker's callback does it, for the token manager tests.
final class UpstreamTokenHarness {
    static let userID: Int64 = 42
    static let callback = "https://broker.example/oauth/callback"
    static let verifier = "upstream-token-test-verifier-0123456789-abcdefghij"
    static let clientID = "mcp-client"

    let server: FakeForgejoServer
    let http: HTTPClient
    let credentials: FakeAppCredentials
    let directory: TemporaryDirectory
    let store: SQLiteStore
    let clock: UpstreamTokenTestClock
    let masterKey = [UInt8](repeating: 7, count: 32)
    var box: SecretBox { SecretBox(masterKey: masterKey, purpose: UpstreamTokenSet.purpose) }
    var databasePath: String { directory.path + "/data/broker.sqlite" }
    private var schedulers: [Task<Void, Never>] = []

    init(accessTokenLifetime: Int = 3600) async throws {
        server = try await FakeForgejoServer.start(options: FakeForgejoOptions(
            accessTokenLifetime: accessTokenLifetime, users: [FakeUserSeed(login: "alice", password: "pw", id: 42)]))
        credentials = try await server.state.registerApp(FakeAppSeed(name: "broker", redirectURIs: [Self.callback]))
        http = HTTPClient(eventLoopGroupProvider: .singleton)
        directory = try TemporaryDirectory()
        store = try SQLiteStore(path: directory.path + "/data/broker.sqlite")
        clock = UpstreamTokenTestClock()
    }

    func shutdown() async throws {
        for scheduler in schedulers { scheduler.cancel() }
        for scheduler in schedulers { await scheduler.value }
        try await http.shutdown()
        await server.stop()
        try store.close()
    }

    func forgejoClient(secret: String? = nil, baseURL: String? = nil, timeout: Duration = .seconds(5)) -> ForgejoClient {
        ForgejoClient(httpClient: http, configuration: .init(
            baseURL: baseURL ?? server.baseURL, clientID: credentials.clientID,
            clientSecret: secret ?? credentials.clientSecret, callbackURL: Self.callback, requestTimeout: timeout))
    }

    /// Short waits so failure paths finish quickly; the shapes are the production ones.
    static let fastPolicy = UpstreamRefreshPolicy(
        attempts: 2, retryBaseDelay: .milliseconds(10), rescheduleBaseDelay: .seconds(2),
        reuseRecheckDelays: [.milliseconds(100), .milliseconds(500), .seconds(1)])

    func makeManager(
        store: (any BrokerStore)? = nil, forgejo: ForgejoClient? = nil, policy: UpstreamRefreshPolicy = fastPolicy,
        changes: (any StoreChangePublisher)? = nil
    ) -> UpstreamTokenManager {
        var logger = Logger(label: "upstream-token-test")
        logger.logLevel = .critical
        return UpstreamTokenManager(
            store: store ?? self.store, forgejo: forgejo ?? forgejoClient(), masterKey: masterKey, clock: clock,
            policy: policy, logger: logger, changes: changes)
    }

    /// Starts the manager's scheduler; stopped in `shutdown`.
    func startScheduler(_ manager: UpstreamTokenManager) {
        schedulers.append(Task { try? await manager.run() })
    }

    /// Logs alice in through the fake's authorize endpoint and stores the set like the broker's
    /// callback does, plus one broker grant so revocation can be observed.
    @discardableResult
    func login() async throws -> UpstreamTokenResponse {
        let (tokens, set) = try await exchange()
        _ = try await storeLogin(set)
        let now = clock.now()
        if try await store.client(id: Self.clientID) == nil {
            try await store.insertClient(ClientRecord(
                clientID: Self.clientID, kind: .dynamic, secretHash: nil, name: "Client", redirectURIs: ["https://c/cb"],
                tokenEndpointAuthMethod: "none", metadataJSON: "{}", createdAt: now))
        }
        _ = try await store.upsertGrant(
            userID: Self.userID, clientID: Self.clientID, scope: "", resource: "https://broker.example/mcp",
            newID: UUID().uuidString, now: now)
        return tokens
    }

    /// A code exchange at the fake for alice, and the set the broker's callback makes of it
    /// (stamped with the exchange's answer time), not yet stored.
    func exchange() async throws -> (UpstreamTokenResponse, UpstreamTokenSet) {
        try await beginLogin().exchange()
    }

    /// Alice's Forgejo authorization code, to be exchanged later (e.g. inside a store hook).
    func beginLogin() async throws -> PendingLogin {
        PendingLogin(code: try await obtainCode(), forgejo: forgejoClient(), clock: clock)
    }

    struct PendingLogin: Sendable {
        let code: String
        let forgejo: ForgejoClient
        let clock: UpstreamTokenTestClock

        func exchange() async throws -> (UpstreamTokenResponse, UpstreamTokenSet) {
            let tokens = try await forgejo.exchangeCode(code, codeVerifier: UpstreamTokenHarness.verifier)
            let now = clock.now()
            let set = UpstreamTokenSet(accessToken: tokens.accessToken, refreshToken: tokens.refreshToken,
                                       accessExpiresAt: tokens.expiresIn.map { now.addingTimeInterval(TimeInterval($0)) },
                                       loginExchangedAt: now)
            return (tokens, set)
        }
    }

    /// Stores a login's set (and alice's user row) the way the broker's callback does.
    func storeLogin(_ set: UpstreamTokenSet, into store: (any BrokerStore)? = nil) async throws -> UpstreamLoginWriter.Outcome {
        let store = store ?? self.store
        let now = clock.now()
        try await store.upsertUser(UserRecord(id: Self.userID, login: "alice", createdAt: now, updatedAt: now))
        return try await UpstreamLoginWriter(store: store, box: box).store(set, userID: Self.userID, now: now)
    }

    /// The stored set, opened.
    func storedSet() async throws -> UpstreamTokenSet? {
        guard let record = try await store.upstreamTokens(userID: Self.userID) else { return nil }
        return try UpstreamTokenSet.open(record.sealed, with: box, userID: Self.userID)
    }

    /// Refreshes with the stored refresh token behind the manager's back, as a broker process
    /// that died before writing Forgejo's answer would have done.
    @discardableResult
    func refreshBehindTheManagersBack() async throws -> UpstreamTokenResponse {
        let stored = try await storedSet()
        let refreshToken = try XCTUnwrap(stored?.refreshToken)
        return try await forgejoClient().refresh(refreshToken: refreshToken)
    }

    func refreshCount() async -> Int {
        await server.state.counters().refreshesByUser["alice"] ?? 0
    }

    func advanceClocks(seconds: Int) async {
        await server.state.advanceClock(seconds: seconds)
        clock.advance(seconds: TimeInterval(seconds))
    }

    private func obtainCode() async throws -> String {
        await server.state.setAutoApproveUser("alice")
        let challenge = Data(SHA256.hash(data: Data(Self.verifier.utf8))).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        let request = HTTPClientRequest(url: forgejoClient().authorizeURL(state: "s", codeChallenge: challenge))
        let noRedirects = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        let response = try await noRedirects.execute(request, timeout: .seconds(5))
        try await noRedirects.shutdown()
        let location = try XCTUnwrap(response.headers.first(name: "Location"))
        let items = URLComponents(string: location)?.queryItems ?? []
        return try XCTUnwrap(items.first { $0.name == "code" }?.value)
    }
}

/// Collects a manager's events so tests can wait for them.
actor UpstreamTokenEventLog {
    private(set) var events: [UpstreamTokenEvent] = []
    private var task: Task<Void, Never>?

    init(_ manager: UpstreamTokenManager) async {
        let stream = await manager.events()
        task = Task { [weak self] in
            for await event in stream { await self?.append(event) }
        }
    }

    private func append(_ event: UpstreamTokenEvent) { events.append(event) }

    var refreshedGenerations: [Int64] {
        events.compactMap { if case .refreshed(_, let token) = $0 { token.generation } else { nil } }
    }

    var deaths: [String] {
        events.compactMap { if case .dead(_, let reason) = $0 { reason } else { nil } }
    }
}

/// Asserts that `body` fails with exactly `expected`.
func assertUpstreamFailure<T>(
    _ expected: UpstreamTokenFailure, file: StaticString = #filePath, line: UInt = #line,
    _ body: () async throws(UpstreamTokenFailure) -> T
) async {
    do {
        _ = try await body()
        XCTFail("expected \(expected)", file: file, line: line)
    } catch {
        XCTAssertEqual(error, expected, file: file, line: line)
    }
}

/// Waits for `condition` with a deadline (never a fixed sleep as synchronisation).
func upstreamEventually(
    _ what: String, timeout: Duration = .seconds(10), file: StaticString = #filePath, line: UInt = #line,
    _ condition: () async throws -> Bool
) async rethrows {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            XCTFail("timed out waiting for \(what)", file: file, line: line)
            return
        }
        try? await Task.sleep(for: .milliseconds(5))
    }
}
