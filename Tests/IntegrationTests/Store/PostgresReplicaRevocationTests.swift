import AsyncHTTPClient
import Foundation
import XCTest

/// Two `fjmcp-broker serve` processes on one PostgreSQL database, as replicas behind one public
/// URL with one secret key: a token used on both (so both bearer caches hold it) and revoked
/// through one answers 401 on the other within 2 s, not after the cache's 30 s TTL.
final class PostgresReplicaRevocationTests: PostgresReplicaTestCase {

    /// Two replicas on a new database, the second with the first's public URL and Forgejo, both
    /// ready (the change listener connected, the replica heartbeat written).
    private func startPair() async throws -> (ServedBroker, ServedBroker) {
        let brokers = try await startReplicas(2)
        for broker in brokers {
            let ready = try await readiness(broker)
            XCTAssertTrue(ready.contains(#""change_listener":"ok""#) && ready.contains(#""replica_heartbeat":"ok""#),
                          ready + (broker.process?.stderr ?? ""))
        }
        return (brokers[0], brokers[1])
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
        let replicas = try await startPair()
        let (_, tokens) = try await replicas.0.client()
        let onSecond = try await useOnBoth(tokens.accessToken, replicas)

        let revoked = try await replicas.0.admin(["revoke", "--user", "alice"])
        XCTAssertEqual(revoked.status, 0, revoked.stderr)
        try await assertUnauthorizedWithin2Seconds(onSecond)
        XCTAssertTrue(replicas.1.process?.stderr.contains("user revoked by another broker") == true, replicas.1.process?.stderr ?? "")
    }

    func testRevokingOneGrantOnOneBrokerIsUnauthorizedOnTheOtherWithin2SecondsAndSparesOtherGrants() async throws {
        let replicas = try await startPair()
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
