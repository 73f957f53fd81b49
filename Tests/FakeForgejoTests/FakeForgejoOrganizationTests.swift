import FakeForgejo
import Foundation
import NIOHTTP1
import XCTest

/// Organisations and teams: the `/_fake/orgs` controls and the API lists the broker's sign-in
/// check reads, with Forgejo's paging and scope checks.
final class FakeForgejoOrganizationTests: FakeForgejoTestCase {
    func control(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> Int {
        try await send(method, path, headers: [("Content-Type", "application/json")], body: body).status
    }

    func list(_ path: String, token: String) async throws -> [[String: Any]] {
        let response = try await apiGet(path, token: token)
        XCTAssertEqual(response.status, 200, response.body)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [[String: Any]])
    }

    func testHTTPControlsAndTheListsTheyShape() async throws {
        let created = try await send(.POST, "/_fake/orgs", headers: [("Content-Type", "application/json")], body: #"{"name":"Acme"}"#)
        XCTAssertEqual(created.status, 201)
        XCTAssertEqual(created.json["name"] as? String, "Acme")
        try await assertEqualAsync(try await control(.POST, "/_fake/orgs", #"{"name":"acme"}"#), 409)
        try await assertEqualAsync(try await control(.POST, "/_fake/orgs", #"{"name":"alice"}"#), 409, "users and orgs share names")
        try await assertEqualAsync(try await control(.PUT, "/_fake/orgs/nope/members/alice"), 404)
        try await assertEqualAsync(try await control(.PUT, "/_fake/orgs/acme/members/nobody"), 404)
        try await assertEqualAsync(try await control(.PUT, "/_fake/orgs/acme/members/alice"), 204)
        try await assertEqualAsync(try await control(.PUT, "/_fake/orgs/ACME/teams/Ops/members/alice"), 204)

        let (access, _) = try await tokens()
        let organizations = try await list("/api/v1/user/orgs", token: access)
        XCTAssertEqual(organizations.map { $0["username"] as? String }, ["Acme"])
        let teams = try await list("/api/v1/user/teams", token: access)
        XCTAssertEqual(teams.map { $0["name"] as? String }, ["Ops"])
        XCTAssertEqual((teams.first?["organization"] as? [String: Any])?["name"] as? String, "Acme")

        try await assertEqualAsync(try await control(.DELETE, "/_fake/orgs/acme/teams/nope/members/alice"), 404)
        try await assertEqualAsync(try await control(.DELETE, "/_fake/orgs/acme/teams/ops/members/alice"), 204)
        try await assertEqualAsync(try await list("/api/v1/user/teams", token: access).count, 0)
        try await assertEqualAsync(try await list("/api/v1/user/orgs", token: access).count, 1, "leaving a team keeps the org")
        try await assertEqualAsync(try await control(.PUT, "/_fake/orgs/acme/teams/ops/members/alice"), 204)
        try await assertEqualAsync(try await control(.DELETE, "/_fake/orgs/acme/members/alice"), 204)
        try await assertEqualAsync(try await list("/api/v1/user/orgs", token: access).count, 0)
        try await assertEqualAsync(try await list("/api/v1/user/teams", token: access).count, 0, "leaving the org leaves its teams")
        try await assertEqualAsync(try await apiGet("/api/v1/user/orgs", token: nil).status, 401)
    }

    func testListsArePagedLikeForgejo() async throws {
        for index in 0..<55 {
            try await state.createOrganization(name: String(format: "org%02d", index))
            try await state.addMember(organization: String(format: "org%02d", index), login: "alice")
        }
        let (access, _) = try await tokens()
        try await assertEqualAsync(try await list("/api/v1/user/orgs", token: access).count, 30, "default page size")
        try await assertEqualAsync(try await list("/api/v1/user/orgs?limit=100", token: access).count, 50, "at most 50")
        let second = try await list("/api/v1/user/orgs?limit=50&page=2", token: access)
        XCTAssertEqual(second.map { $0["name"] as? String }, ["org50", "org51", "org52", "org53", "org54"])
    }

    func testGranularScopesAreEnforcedOnTheMembershipLists() async throws {
        try await state.createOrganization(name: "acme")
        await state.setAutoApproveUser("alice")
        let authorize = try await send(.GET, authorizePath(clientID: broker.clientID, redirectURI: Self.brokerCallback,
                                                           scope: "openid read:user read:repository"))
        let code = try XCTUnwrap(authorize.locationQuery["code"])
        let exchanged = try await exchange(code)
        let access = try XCTUnwrap(exchanged.json["access_token"] as? String)
        let refused = try await apiGet("/api/v1/user/orgs", token: access)
        XCTAssertEqual(refused.status, 403)
        XCTAssertEqual(refused.json["message"] as? String, "token does not have at least one of required scope(s): [read:organization]")
        try await assertEqualAsync(try await apiGet("/api/v1/user/teams", token: access).status, 200, "teams need read:user only")
    }
}
