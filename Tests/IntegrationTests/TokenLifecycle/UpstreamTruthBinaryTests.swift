import BrokerKit
import FakeForgejo
import Foundation
import XCTest

/// Upstream truth against the built `fjmcp-broker serve` and the fake Forgejo (issue 16): the
/// broker notices within seconds that Forgejo stopped accepting a user's token, from the one
/// tool call that failed because of it, in both protocol eras. A revoked grant ends the user's
/// access (401 with the login challenge, the broker refresh answers `invalid_grant`, no child
/// keeps the dead token); a token Forgejo invalidated early is refreshed and the children get
/// the new one. The failed call itself is never retried by the broker.
final class UpstreamTruthBinaryTests: XCTestCase {
    private var broker: ServedBroker!

    override func tearDown() async throws {
        await broker?.shutdown()
    }

    func testRevokedForgejoGrantEndsTheLegacySession() async throws {
        try await revokedGrantEndsAccess(.legacy)
    }

    func testRevokedForgejoGrantEndsTheUserChild() async throws {
        try await revokedGrantEndsAccess(.modern)
    }

    func testEarlyExpiryGivesTheLegacySessionANewToken() async throws {
        try await earlyExpiryReplacesTheToken(.legacy)
    }

    func testEarlyExpiryGivesTheUserChildANewToken() async throws {
        try await earlyExpiryReplacesTheToken(.modern)
    }

    /// The client's whoami before anything happens: the child's pid and token fingerprint.
    /// No call has to fail: a user with live children is checked every `FJMCP_UPSTREAM_PROBE_INTERVAL`.
    func testThePeriodicCheckNoticesARevokedGrantWithoutAnyCall() async throws {
        let (client, _, pid, _) = try await start(.modern, environment: ["FJMCP_UPSTREAM_PROBE_INTERVAL": "1s"])
        try await broker.forgejo.state.revokeGrant(login: "alice", clientID: OAuthTestBroker.forgejoClientID)
        let gone = await eventually(timeout: .seconds(5)) { !processExists(pid) }
        XCTAssertTrue(gone, "child \(pid) still holds the dead token: \(upstreamLog())")
        let after = try await TestEra.modern.tool(client, id: 2, "whoami")
        XCTAssertEqual(after.status, 401, after.body)
    }

    /// A client refreshing its broker token makes the broker check the Forgejo token: that
    /// refresh is answered at once, the next one finds the grant dead.
    func testABrokerRefreshNoticesARevokedGrant() async throws {
        let (_, tokens, pid, _) = try await start(.legacy)
        try await broker.forgejo.state.revokeGrant(login: "alice", clientID: OAuthTestBroker.forgejoClientID)
        let refreshed = try await refresh(tokens.refreshToken ?? "", clientID: tokens.clientID)
        XCTAssertEqual(refreshed.status, 200, refreshed.body)
        let gone = await eventually(timeout: .seconds(5)) { !processExists(pid) }
        XCTAssertTrue(gone, "child \(pid) still holds the dead token: \(upstreamLog())")
        let again = try await refresh(refreshed.json["refresh_token"] as? String ?? "", clientID: tokens.clientID)
        XCTAssertEqual(again.error, "invalid_grant", again.body)
    }

    /// A new login of the user (another client, or the account page) retires the stored refresh
    /// token at Forgejo but not the access tokens children run with: they keep working on the
    /// same processes (they move to the new set at its scheduled refresh).
    func testANewLoginLeavesTheChildrenOnTheirStillValidToken() async throws {
        let (client, _, pid, fingerprint) = try await start(.legacy)
        // The fake's tokens are its signed claims: a login in the same second would get the same string.
        await broker.forgejo.state.advanceClock(seconds: 1)
        _ = try await broker.client()
        let next = try await TestEra.legacy.tool(client, id: 2, "whoami")
        XCTAssertEqual(next.result?["isError"] as? Bool, false, next.body)
        XCTAssertEqual(next.structured?["tokenFingerprint"] as? String, fingerprint)
        XCTAssertEqual((next.structured?["pid"] as? Int).map(Int32.init), pid, "a login replaced a child whose token still works")
    }

    /// The user deleted the application at Forgejo and signed in again: the children's access
    /// token died with the old grant while the stored set is the new login's. The first call
    /// that fails makes the broker check the stored token, find it good, and move the children.
    func testAGrantReCreatedAtForgejoMovesTheLegacySessionAfterAFailedCall() async throws {
        try await reCreatedGrantMovesChildren(.legacy)
    }

    func testAGrantReCreatedAtForgejoMovesTheUserChildAfterAFailedCall() async throws {
        try await reCreatedGrantMovesChildren(.modern)
    }

    private func reCreatedGrantMovesChildren(_ era: TestEra) async throws {
        let (client, _, pid, fingerprint) = try await start(era)
        try await broker.forgejo.state.revokeGrant(login: "alice", clientID: OAuthTestBroker.forgejoClientID)
        await broker.forgejo.state.advanceClock(seconds: 1)
        _ = try await broker.client()
        var failed = 0
        var recovered: MCPReply?
        let deadline = ContinuousClock.now + .seconds(5)
        for id in 2...100 where ContinuousClock.now < deadline {
            let reply = try await era.tool(client, id: id, "whoami")
            if reply.result?["isError"] as? Bool == false {
                recovered = reply
                break
            }
            failed += 1
            try await Task.sleep(for: .milliseconds(250))
        }
        let next = try XCTUnwrap(recovered, "no call worked within 5 s (\(failed) failed): \(upstreamLog())")
        XCTAssertLessThanOrEqual(failed, 2, "calls kept failing on the dead token")
        XCTAssertNotEqual(next.structured?["tokenFingerprint"] as? String, fingerprint, "the child runs the old token")
        XCTAssertNotEqual((next.structured?["pid"] as? Int).map(Int32.init), pid)
        let refreshes = await broker.forgejo.state.counters().refreshesByUser["alice"] ?? 0
        XCTAssertEqual(refreshes, 0, "moving to the login's set needs no refresh")
    }

    private func refresh(_ refreshToken: String, clientID: String) async throws -> JSONAnswer {
        try await MCPLogin.send(broker.baseURL + "/oauth/token", httpClient: broker.httpClient, form: [
            ("grant_type", "refresh_token"), ("refresh_token", refreshToken), ("client_id", clientID),
            ("resource", broker.baseURL + "/mcp"),
        ])
    }

    private func start(_ era: TestEra, environment: [String: String] = [:])
        async throws -> (client: MCPTestClient, tokens: MCPLogin.Tokens, pid: Int32, fingerprint: String)
    {
        broker = try await ServedBroker.start(environment: environment)
        let (plain, tokens) = try await broker.client()
        let client = try await era.ready(plain)
        let whoami = try await era.tool(client, id: 1, "whoami")
        XCTAssertEqual(whoami.structured?["login"] as? String, "alice", whoami.body)
        let pid = try XCTUnwrap((whoami.structured?["pid"] as? Int).map(Int32.init), whoami.body)
        let fingerprint = try XCTUnwrap(whoami.structured?["tokenFingerprint"] as? String, whoami.body)
        return (client, tokens, pid, fingerprint)
    }

    private func revokedGrantEndsAccess(_ era: TestEra) async throws {
        let (client, tokens, pid, _) = try await start(era)
        try await broker.forgejo.state.revokeGrant(login: "alice", clientID: OAuthTestBroker.forgejoClientID)
        let revokedAt = ContinuousClock.now

        // Calls go on as a client would send them; the first one fails inside the child (Forgejo's 401).
        var failed = 0
        var challenge: MCPReply?
        for id in 2...100 where ContinuousClock.now < revokedAt + .seconds(5) {
            let reply = try await era.tool(client, id: id, "whoami")
            if reply.status == 401 {
                challenge = reply
                break
            }
            XCTAssertEqual(reply.result?["isError"] as? Bool, true, "a call with the revoked token cannot succeed: \(reply.body)")
            failed += 1
            try await Task.sleep(for: .milliseconds(200))
        }
        let answer = try XCTUnwrap(challenge, "no 401 within 5 s of the revocation (\(failed) calls failed)")
        XCTAssertLessThanOrEqual(failed, 1, "only the call that revealed the dead token may fail")
        XCTAssertTrue(answer.headers["www-authenticate"].first?.contains("resource_metadata") ?? false, "\(answer.headers)")

        let refused = try await refresh(tokens.refreshToken ?? "", clientID: tokens.clientID)
        XCTAssertEqual(refused.status, 400, refused.body)
        XCTAssertEqual(refused.error, "invalid_grant", refused.body)

        let gone = await eventually(timeout: .seconds(5)) { !processExists(pid) }
        XCTAssertTrue(gone, "child \(pid) still holds the dead token")
        let log = broker.process?.stderr ?? ""
        XCTAssertTrue(log.contains("upstream_probe"), log)
        XCTAssertTrue(log.contains("cause=failed_call") || log.contains("\"cause\":\"failed_call\""), log)
    }

    /// The broker's log lines about Forgejo tokens and children, for failure messages.
    private func upstreamLog() -> String {
        (broker.process?.stderr ?? "").split(separator: "\n").filter { line in
            !line.contains("access_log") && !line.contains("http_request")
        }.joined(separator: "\n")
    }

    private func earlyExpiryReplacesTheToken(_ era: TestEra) async throws {
        let (client, _, pid, fingerprint) = try await start(era)
        // Forgejo forgets the access token early; the refresh token stays good. (The fake's
        // access tokens are its claims signed, so one issued in the same second as the login's
        // would be the same string, expired too: its clock moves on by a second first.)
        await broker.forgejo.state.advanceClock(seconds: 1)
        try await broker.forgejo.state.expireTokens(login: "alice", includeRefreshTokens: false)

        let failed = try await era.tool(client, id: 2, "whoami")
        XCTAssertEqual(failed.result?["isError"] as? Bool, true, failed.body)
        // The broker refreshes and gives the conversation a child with the new token.
        let swapped = await eventually(timeout: .seconds(5)) {
            guard let listing = try? await self.broker.admin(["sessions"]).stdout else { return false }
            let words = listing.split(whereSeparator: \.isWhitespace)
            return words.contains("alice") && !words.contains(Substring("\(pid)"))
        }
        XCTAssertTrue(swapped, "the child \(pid) was not replaced: \(upstreamLog())")

        let next = try await era.tool(client, id: 3, "whoami")
        XCTAssertEqual(next.result?["isError"] as? Bool, false, next.body)
        XCTAssertEqual(next.structured?["login"] as? String, "alice", next.body)
        XCTAssertNotEqual(next.structured?["tokenFingerprint"] as? String, fingerprint, "the new child runs the old token")
        XCTAssertNotEqual((next.structured?["pid"] as? Int).map(Int32.init), pid)
        let refreshes = await broker.forgejo.state.counters().refreshesByUser["alice"] ?? 0
        XCTAssertEqual(refreshes, 1)
        let gone = await eventually(timeout: .seconds(5)) { !processExists(pid) }
        XCTAssertTrue(gone, "child \(pid) still holds the expired token")
    }
}
