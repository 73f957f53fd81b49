import FakeForgejo
import Foundation
import XCTest

/// API authentication (A10) and the repository endpoints the MCP servers use.
final class FakeForgejoAPITests: FakeForgejoTestCase {
    func testAuthorizationSchemes() async throws {
        let (access, _) = try await tokens()
        for scheme in ["token", "Token", "Bearer", "bearer"] {
            let response = try await apiGet("/api/v1/user", token: access, scheme: scheme)
            XCTAssertEqual(response.status, 200, scheme)
        }
        let user = try await apiGet("/api/v1/user", token: access).json
        XCTAssertEqual(user["id"] as? Int, 42)
        XCTAssertEqual(user["login"] as? String, "alice")
        XCTAssertEqual(user["is_admin"] as? Bool, false)
        XCTAssertNotNil(user["avatar_url"] as? String)
        XCTAssertNotNil(user["full_name"] as? String)
        XCTAssertNotNil(user["email"] as? String)
    }

    func testPublicAndProtectedRoutesWithoutAndWithBadTokens() async throws {
        try await assertEqualAsync(try await apiGet("/api/v1/version", token: nil).json["version"] as? String, "12.0.0+gitea-1.22.0")
        try await assertEqualAsync(try await apiGet("/api/v1/settings/api", token: nil).json["max_response_items"] as? Int, 50)
        let missing = try await apiGet("/api/v1/user", token: nil)
        XCTAssertEqual(missing.status, 401)
        XCTAssertEqual(missing.json["message"] as? String, "token is required")
        for path in ["/api/v1/version", "/api/v1/settings/api", "/api/v1/user", "/api/v1/repos/alice/demo"] {
            let bad = try await apiGet(path, token: "bad.token.here")
            XCTAssertEqual(bad.status, 401, path)
            XCTAssertNotNil(bad.json["url"] as? String)
        }
        let (_, refreshToken) = try await tokens()
        try await assertEqualAsync(try await apiGet("/api/v1/user", token: refreshToken).status, 401, "refresh token is no API token")
    }

    func testRepositoryAndIssueEndpoints() async throws {
        let (access, _) = try await tokens()
        let repos = try await apiGet("/api/v1/user/repos", token: access)
        let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(repos.body.utf8)) as? [[String: Any]])
        XCTAssertEqual(list.map { $0["full_name"] as? String }, ["alice/demo"])
        try await assertEqualAsync(try await apiGet("/api/v1/repos/alice/demo", token: access).json["name"] as? String, "demo")
        try await assertEqualAsync(try await apiGet("/api/v1/repos/alice/missing", token: access).status, 404)
        try await assertEqualAsync(try await apiGet("/api/v1/repos/bob/demo/issues/1", token: access).json["title"] as? String, "Welcome")
        try await assertEqualAsync(try await apiGet("/api/v1/repos/alice/demo/issues/99", token: access).status, 404)

        let created = try await send(
            .POST, "/api/v1/repos/alice/demo/issues",
            headers: [("Authorization", "token \(access)"), ("Content-Type", "application/json")],
            body: #"{"title":"Bug","body":"details"}"#)
        XCTAssertEqual(created.status, 201)
        XCTAssertEqual(created.json["number"] as? Int, 2)
        let issues = try await apiGet("/api/v1/repos/alice/demo/issues", token: access)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(issues.body.utf8)) as? [Any])?.count, 2)
        let untitled = try await send(
            .POST, "/api/v1/repos/alice/demo/issues",
            headers: [("Authorization", "token \(access)"), ("Content-Type", "application/json")], body: "{}")
        XCTAssertEqual(untitled.status, 422)
        let anonymous = try await send(
            .POST, "/api/v1/repos/alice/demo/issues", headers: [("Content-Type", "application/json")],
            body: #"{"title":"x"}"#)
        XCTAssertEqual(anonymous.status, 401)
        let counters = await state.counters()
        XCTAssertEqual(counters.apiCalls["/api/v1/repos/alice/demo/issues"], 4)
    }
}
