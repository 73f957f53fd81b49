import AsyncHTTPClient
import Foundation
import Logging
import PostgresNIO
import XCTest

/// Two `fjmcp-broker serve` processes on one PostgreSQL database, as replicas behind one public
/// URL with one secret key: a token used on both (so both bearer caches hold it) and revoked
/// through one answers 401 on the other within 2 s, not after the cache's 30 s TTL.
final class PostgresReplicaRevocationTests: XCTestCase {
    private var brokers: [ServedBroker] = []
    private var database: String?
    private var server: URLComponents?

    override func tearDown() async throws {
        for broker in brokers { await broker.shutdown() }
        if let database { try await admin("DROP DATABASE IF EXISTS \(unescaped: database) WITH (FORCE)") }
    }

    /// Runs one statement on the test server's own database (CREATE/DROP DATABASE cannot run in
    /// the database they name).
    private func admin(_ statement: PostgresQuery) async throws {
        guard let server, let host = server.host, let port = server.port else { return }
        let client = PostgresClient(configuration: .init(host: host, port: port, username: server.user ?? "postgres", password: nil,
                                                         database: "postgres", tls: .disable), backgroundLogger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(statement)
        }
    }

    /// Two brokers on a new database, the second with the first's public URL and Forgejo.
    private func startReplicas() async throws -> (ServedBroker, ServedBroker) {
        guard let raw = ProcessInfo.processInfo.environment["FJMCP_TEST_POSTGRES_URL"], !raw.isEmpty,
              var url = URLComponents(string: raw) else {
            throw XCTSkip("FJMCP_TEST_POSTGRES_URL is unset: PostgreSQL is not available here (scripts/test.sh starts it)")
        }
        server = url
        // A generated name of hex digits only, never input.
        let name = "fjmcp_replicas_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await admin("CREATE DATABASE \(unescaped: name)")
        database = name
        url.path = "/" + name
        url.query = "sslmode=disable"
        let keyFile = NSTemporaryDirectory() + "fjmcp-replica-key-" + UUID().uuidString
        let key = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        guard FileManager.default.createFile(atPath: keyFile, contents: Data(key.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ProductProcess.ProcessFailure(message: "cannot create \(keyFile)")
        }
        addTeardownBlock { try? FileManager.default.removeItem(atPath: keyFile) }
        let shared = ["FJMCP_DATABASE_URL": url.string ?? raw, "FJMCP_SECRET_KEY_FILE": keyFile]
        let first = try await ServedBroker.start(environment: shared)
        brokers.append(first)
        let second = try await ServedBroker.start(environment: shared.merging([
            "FJMCP_PUBLIC_URL": first.baseURL, "FORGEJO_URL": first.forgejo.baseURL,
        ]) { _, new in new })
        brokers.append(second)
        for broker in [first, second] {
            let ready = try await readiness(broker)
            XCTAssertTrue(ready.contains(#""change_listener":"ok""#), ready + (broker.process?.stderr ?? ""))
        }
        return (first, second)
    }

    /// `/readyz` once it answers 200 (the listener connects just after the start), else its last body.
    private func readiness(_ broker: ServedBroker) async throws -> String {
        var body = ""
        _ = await eventually {
            guard let response = try? await broker.httpClient.execute(HTTPClientRequest(url: broker.baseURL + "/readyz"), timeout: .seconds(5)),
                  let bytes = try? await response.body.collect(upTo: 1 << 16) else { return false }
            body = String(buffer: bytes)
            return response.status == .ok
        }
        return body
    }

    /// The same token works on both brokers: a session and a tool call on each.
    private func useOnBoth(_ token: String, _ brokers: (ServedBroker, ServedBroker)) async throws -> MCPTestClient {
        var onSecond = MCPTestClient(baseURL: brokers.1.baseURL, accessToken: token, httpClient: brokers.1.httpClient)
        for broker in [brokers.0, brokers.1] {
            var client = MCPTestClient(baseURL: broker.baseURL, accessToken: token, httpClient: broker.httpClient)
            _ = try await client.initialize()
            let whoami = try await client.tool(id: 1, "whoami")
            XCTAssertEqual(whoami.status, 200, whoami.body)
            if broker === brokers.1 { onSecond = client }
        }
        return onSecond
    }

    /// Calls until a 401, at most 2 s after the revocation returned.
    private func assertUnauthorizedWithin2Seconds(_ client: MCPTestClient, file: StaticString = #filePath, line: UInt = #line) async throws {
        let deadline = ContinuousClock.now + .seconds(2)
        var last = 0
        repeat {
            last = try await client.tool(id: 2, "whoami").status
            if last == 401 { return }
            try await Task.sleep(for: .milliseconds(50))
        } while ContinuousClock.now < deadline
        XCTFail("the other broker still answered \(last) 2 s after the revocation", file: file, line: line)
    }

    func testRevokeUserOnOneBrokerIsUnauthorizedOnTheOtherWithin2Seconds() async throws {
        let replicas = try await startReplicas()
        let (_, tokens) = try await replicas.0.client()
        let onSecond = try await useOnBoth(tokens.accessToken, replicas)

        let revoked = try await replicas.0.admin(["revoke", "--user", "alice"])
        XCTAssertEqual(revoked.status, 0, revoked.stderr)
        try await assertUnauthorizedWithin2Seconds(onSecond)
        XCTAssertTrue(replicas.1.process?.stderr.contains("user revoked by another broker") == true, replicas.1.process?.stderr ?? "")
    }

    func testRevokingOneGrantOnOneBrokerIsUnauthorizedOnTheOtherWithin2SecondsAndSparesOtherGrants() async throws {
        let replicas = try await startReplicas()
        let (_, revokedTokens) = try await replicas.0.client()
        let (_, keptTokens) = try await replicas.0.client()
        let revokedOnSecond = try await useOnBoth(revokedTokens.accessToken, replicas)
        let keptOnSecond = try await useOnBoth(keptTokens.accessToken, replicas)

        let revoked = try await MCPLogin.send(replicas.0.baseURL + "/oauth/revoke", httpClient: replicas.0.httpClient, form: [
            ("token", revokedTokens.accessToken), ("client_id", revokedTokens.clientID),
        ])
        XCTAssertEqual(revoked.status, 200, revoked.body)
        try await assertUnauthorizedWithin2Seconds(revokedOnSecond)
        let kept = try await keptOnSecond.tool(id: 3, "whoami")
        XCTAssertEqual(kept.status, 200, kept.body)
    }
}
