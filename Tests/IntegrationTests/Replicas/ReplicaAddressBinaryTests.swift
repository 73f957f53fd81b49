import AsyncHTTPClient
import Foundation
import XCTest

/// Two `fjmcp-broker serve` replicas given the same `FJMCP_REPLICA_URL`: the hop would take each
/// one's children for the other's previous life and wait for a lapse that never comes, so the
/// later one stops with the reason (exit status 2) and the first keeps serving.
final class ReplicaAddressBinaryTests: PostgresReplicaTestCase {

    func testAReplicaStartedAtALiveReplicasAddressStopsWithTheReasonAndTheFirstServesOn() async throws {
        let first = try await startReplicas(1, settings: ["FJMCP_REPLICA_HEARTBEAT": "1s"])[0]
        let second = try await addReplica(address: first.baseURL, port: FreePort.pick())
        let process = try XCTUnwrap(second.process)
        // Found once the first replica's beat moved between two of its looks (a heartbeat or two);
        // exit status 2, a configuration error, which the shipped units do not restart.
        let status = await process.waitForExit(timeout: .seconds(15))
        XCTAssertEqual(status, 2, process.stderr)
        XCTAssertTrue(process.stderr.contains("FJMCP_REPLICA_URL \(first.baseURL) is also the address of replica"), process.stderr)
        XCTAssertTrue(process.stderr.contains("every replica needs its own address"), process.stderr)

        let ready = try await first.httpClient.execute(HTTPClientRequest(url: first.baseURL + "/readyz"), timeout: .seconds(10))
        XCTAssertEqual(ready.status, .ok, "the first replica serves on")
        var client = try await first.client().client
        let opened = try await client.initialize()
        XCTAssertEqual(opened.status, 200, opened.body)
        let call = try await client.tool(id: 1, "whoami")
        XCTAssertEqual(call.status, 200, call.body)
    }
}
