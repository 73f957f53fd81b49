import FakeForgejo
import XCTest

/// Grant counter, rotation and reuse (A7), revocation (A11), expiry and clock control (A6, A10).
final class FakeForgejoRotationTests: FakeForgejoTestCase {
    func testRefreshRotatesAndOldTokenIsReported() async throws {
        let (_, first) = try await tokens()
        let rotated = try await refresh(first)
        XCTAssertEqual(rotated.status, 200)
        let second = try XCTUnwrap(rotated.json["refresh_token"] as? String)
        XCTAssertNotEqual(first, second)
        assertOAuthError(try await refresh(first), "unauthorized_client", "token was already used")
        // Reuse does not revoke the grant: the newest token still works.
        try await assertEqualAsync(try await refresh(second).status, 200)
        let counters = await state.counters()
        XCTAssertEqual(counters.refreshes, 2)
        XCTAssertEqual(counters.refreshesByUser["alice"], 2)
        XCTAssertEqual(counters.tokenRequests(grantType: "refresh_token", outcome: "unauthorized_client"), 1)
    }

    func testNewLoginInvalidatesOtherRefreshTokens() async throws {
        let (_, first) = try await tokens()
        await assertEqualAsync(await state.grantCounter(login: "alice", clientID: broker.clientID), 2)
        _ = try await tokens()
        await assertEqualAsync(await state.grantCounter(login: "alice", clientID: broker.clientID), 3)
        assertOAuthError(try await refresh(first), "unauthorized_client", "token was already used")
    }

    func testRotationOffKeepsRefreshTokensReusable() async throws {
        await state.setInvalidateRefreshTokens(false)
        let (_, first) = try await tokens()
        try await assertEqualAsync(try await refresh(first).status, 200)
        try await assertEqualAsync(try await refresh(first).status, 200)
    }

    func testRevokedGrantFailsAPIAndRefresh() async throws {
        let (access, refreshToken) = try await tokens()
        try await assertEqualAsync(try await apiGet("/api/v1/user", token: access).status, 200)
        try await state.revokeGrant(login: "alice", clientID: broker.clientID)
        let api = try await apiGet("/api/v1/user", token: access)
        XCTAssertEqual(api.status, 401)
        XCTAssertNotNil(api.json["message"] as? String)
        XCTAssertEqual(api.json["url"] as? String, "\(server.baseURL)/api/swagger")
        assertOAuthError(try await refresh(refreshToken), "invalid_grant", "grant does not exist")
    }

    func testDeletedAppKillsTokensAndClient() async throws {
        let (access, refreshToken) = try await tokens()
        try await state.deleteApp(clientID: broker.clientID)
        try await assertEqualAsync(try await apiGet("/api/v1/version", token: access).status, 401)
        assertOAuthError(
            try await refresh(refreshToken), "invalid_client", "cannot load client with client id: \"\(broker.clientID)\"")
    }

    func testAccessTokenExpiresWithClock() async throws {
        await state.setAccessTokenLifetime(seconds: 60)
        let (access, refreshToken) = try await tokens()
        try await assertEqualAsync(try await apiGet("/api/v1/user", token: access).status, 200)
        await state.advanceClock(seconds: 61)
        try await assertEqualAsync(try await apiGet("/api/v1/user", token: access).status, 401)
        let refreshed = try await refresh(refreshToken)
        XCTAssertEqual(refreshed.json["expires_in"] as? Int, 60)
        let newAccess = try XCTUnwrap(refreshed.json["access_token"] as? String)
        try await assertEqualAsync(try await apiGet("/api/v1/user", token: newAccess).status, 200)
    }

    func testTokenIssuedInTheFutureIsRejected() async throws {
        await state.advanceClock(seconds: 600)
        let (access, _) = try await tokens()
        await state.advanceClock(seconds: -1200)
        try await assertEqualAsync(try await apiGet("/api/v1/user", token: access).status, 401)
    }

    func testRefreshTokenExpiresAfterConfiguredHours() async throws {
        await state.setRefreshTokenLifetime(hours: 1)
        let (_, refreshToken) = try await tokens()
        await state.advanceClock(seconds: 3601)
        assertOAuthError(try await refresh(refreshToken), "unauthorized_client", "unable to parse refresh token")
    }

    func testExpireTokensControl() async throws {
        let (access, refreshToken) = try await tokens()
        let (bobAccess, bobRefresh) = try await tokens(for: "bob")
        try await state.expireTokens(login: "alice")
        try await assertEqualAsync(try await apiGet("/api/v1/user", token: access).status, 401)
        try await assertEqualAsync(try await apiGet("/api/v1/user", token: bobAccess).status, 200)
        let refreshed = try await refresh(refreshToken)
        XCTAssertEqual(refreshed.status, 200)
        let newRefresh = try XCTUnwrap(refreshed.json["refresh_token"] as? String)
        try await state.expireTokens(login: "bob", includeRefreshTokens: true)
        assertOAuthError(try await refresh(bobRefresh), "unauthorized_client", "unable to parse refresh token")
        try await assertEqualAsync(try await refresh(newRefresh).status, 200)
        do {
            try await state.expireTokens(login: "nobody")
            XCTFail("expected unknownUser")
        } catch {
            XCTAssertEqual(error, .unknownUser("nobody"))
        }
    }
}
