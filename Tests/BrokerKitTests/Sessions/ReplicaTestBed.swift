import Foundation
import GRDB
import Logging
import XCTest

@testable import BrokerKit

/// Replicas for ChildHost tests: hosts with real demo children sharing one SQLite session store
/// (one user "alice" with grant g1) and one in-memory replica store, on a wall clock the test
/// moves by hand.
final class ReplicaTestBed: @unchecked Sendable {
    struct FixedTokens: UpstreamTokenProvider {
        func accessToken(userID: Int64) async throws(UpstreamCredentialError) -> UpstreamCredential {
            UpstreamCredential(token: "token-\(userID)", expiresAt: nil)
        }
    }

    static let lapse: Duration = .seconds(10)
    /// Beats (real time) are bounded by half of it, and the watchdog looks every quarter.
    static let heartbeat: Duration = .seconds(1)
    let owner = SessionOwner(userID: 1, login: "alice", clientID: "c1", grantID: "g1")
    let replicas = InMemoryReplicaStore()
    let clock = TestWallClock()
    private(set) var records: SQLiteStore?
    /// The session store's file (tests inject store faults through it and open it from admin routers).
    private(set) var databasePath = ""
    private(set) var hosts: [ChildHost] = []

    func setUp(_ test: XCTestCase) async throws {
        let directory = NSTemporaryDirectory() + "child-host-replicas-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
        databasePath = directory + "/broker.sqlite"
        let store = try SQLiteStore(path: databasePath)
        try await store.upsertUser(UserRecord(id: 1, login: "alice", createdAt: Date(), updatedAt: Date()))
        _ = try await store.upsertGrant(userID: 1, clientID: "c1", scope: "", resource: "r", newID: "g1", now: Date())
        records = store
    }

    func tearDown() async throws {
        for host in hosts { await host.shutdown() }
        try records?.close()
    }

    /// The replicas' configuration: demo children, no sandbox, a short stop grace.
    func config() throws -> BrokerConfig {
        try BrokerConfig.load(from: ConfigSource(environment: [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:9", "FORGEJO_URL": "http://127.0.0.1:1", "FORGEJO_CLIENT_ID": "id",
            "FORGEJO_CLIENT_SECRET": "secret", "FJMCP_DATA_DIR": NSTemporaryDirectory(),
            "FJMCP_CHILD_COMMAND": DemoBinary.path + " --no-forgejo-check", "FJMCP_CHILD_STOP_GRACE": "200ms", "FJMCP_CHILD_SANDBOX": "off",
        ]))
    }

    /// A replica started now on the bed's clock: its host and placement (nil placement:
    /// single-process mode). Each has an address of its own unless `address` is given.
    func replica(replicaMode: Bool = true, address: String? = nil, beatTimeout: Duration? = nil) throws -> (ChildHost, ChildPlacement?) {
        let config = try config()
        let clock = self.clock
        let logger = Logger(label: "replica-test-bed")
        let identity = ReplicaIdentity(address: address ?? "http://10.0.0.\(hosts.count + 1):8080", startedAt: clock.now)
        let placement = replicaMode
            ? ChildPlacement(identity: identity, store: replicas,
                             lapse: Self.lapse, heartbeat: Self.heartbeat, logger: logger, beatTimeout: beatTimeout,
                             now: { clock.now })
            : nil
        let host = ChildHost(limits: SessionRegistryLimits(config.sessions), launcher: ChildLauncher(config: config, brokerEnvironment: [:]),
                             tokens: FixedTokens(), logger: logger, records: records, placement: placement)
        hosts.append(host)
        return (host, placement)
    }

    /// Ways the session store can fail, injected into the real database (the hosts' store stays
    /// the one production uses).
    enum SessionRecordsFault {
        /// A session's end cannot be written (reads still work): a trigger aborts every update.
        case endsFail
        /// Nothing about sessions can be read or written: the table is renamed away.
        case unreachable
    }

    private var fault: SessionRecordsFault?

    /// Injects `fault` into the session store, or repairs the one injected (nil).
    func setSessionRecords(failing fault: SessionRecordsFault?) throws {
        guard fault != self.fault else { return }
        var configuration = Configuration()
        // The hosts may be writing (a session's state): wait for them as the store itself does.
        configuration.busyMode = .timeout(5)
        let database = try DatabaseQueue(path: databasePath, configuration: configuration)
        try database.write { db in
            switch self.fault {
            case .endsFail?: try db.execute(sql: "DROP TRIGGER sessions_down")
            case .unreachable?: try db.execute(sql: "ALTER TABLE mcp_sessions_away RENAME TO mcp_sessions")
            case nil: break
            }
            switch fault {
            case .endsFail?:
                try db.execute(sql: "CREATE TRIGGER sessions_down BEFORE UPDATE ON mcp_sessions BEGIN SELECT RAISE(ABORT, 'down'); END")
            case .unreachable?: try db.execute(sql: "ALTER TABLE mcp_sessions RENAME TO mcp_sessions_away")
            case nil: break
            }
        }
        try database.close()
        self.fault = fault
    }

    /// Opens a legacy session on `host` (its child starts at once: the first `initialize`).
    func open(_ host: ChildHost) async throws -> String {
        let initialize = try JSONRPCMessage(Array(
            #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#.utf8))
        guard case .opened(let id, _) = try await host.open(owner: owner, initialize: initialize) else {
            throw XCTSkip("the demo child rejected initialize")
        }
        return id
    }
}

/// The setup every suite on a `ReplicaTestBed` shares: a fresh bed per test, its hosts shut down
/// and its store closed after. No tests of its own.
class ReplicaBedTestCase: XCTestCase {
    let bed = ReplicaTestBed()

    override func setUp() async throws {
        try await bed.setUp(self)
    }

    override func tearDown() async throws {
        try await bed.tearDown()
    }
}
