import FakeForgejo
import Foundation
import NIOHTTP1
import XCTest

/// Fault injection and the JSON control endpoints under `/_fake/`.
final class FakeForgejoControlTests: FakeForgejoTestCase {
    func testTokenEndpointFaults() async throws {
        let (_, refreshToken) = try await tokens()
        await state.injectFault(.serverError, target: .token)
        try await assertEqualAsync(try await refresh(refreshToken).status, 500)
        await state.injectFault(.htmlGarbage, target: .token)
        let html = try await refresh(refreshToken)
        XCTAssertEqual(html.status, 200)
        XCTAssertTrue(html.headers.first(name: "Content-Type")?.contains("text/html") ?? false)
        await state.injectFault(.omitRefreshToken, target: .token)
        let noRefresh = try await refresh(refreshToken)
        XCTAssertEqual(noRefresh.status, 200)
        XCTAssertNotNil(noRefresh.json["access_token"])
        XCTAssertNil(noRefresh.json["refresh_token"])
        await state.injectFault(.closeConnection, target: .token)
        do {
            _ = try await refresh(refreshToken)
            XCTFail("connection should have been dropped")
        } catch {}
        await state.injectFault(.hang(milliseconds: 300), target: .token)
        let started = ContinuousClock.now
        let slow = try await refresh(refreshToken)
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(300))
        XCTAssertEqual(slow.status, 400, "rotation happened during the omit fault, so this token is stale")
    }

    func testAPIFaultsCountAndClear() async throws {
        await state.injectFault(.serverError, target: .api, count: 2)
        try await assertEqualAsync(try await apiGet("/api/v1/version", token: nil).status, 500)
        try await assertEqualAsync(try await apiGet("/api/v1/version", token: nil).status, 500)
        try await assertEqualAsync(try await apiGet("/api/v1/version", token: nil).status, 200)
        await state.injectFault(.serverError, target: .api, count: 5)
        await state.clearFaults()
        try await assertEqualAsync(try await apiGet("/api/v1/version", token: nil).status, 200)
    }

    func testHTTPControls() async throws {
        func json(_ method: HTTPMethodName, _ path: String, _ body: String? = nil) async throws -> TestResponse {
            try await send(method.value, path, headers: [("Content-Type", "application/json")], body: body)
        }
        let user = try await json(.post, "/_fake/users", #"{"login":"dave","password":"pw","id":7,"is_admin":true}"#)
        XCTAssertEqual(user.status, 201)
        XCTAssertEqual(user.json["id"] as? Int, 7)
        try await assertEqualAsync(try await json(.post, "/_fake/users", #"{"login":"dave","password":"pw"}"#).status, 409)
        try await assertEqualAsync(try await json(.post, "/_fake/users", #"{"nope":1}"#).status, 400)

        let app = try await json(
            .post, "/_fake/apps",
            #"{"name":"demo","redirect_uris":["http://127.0.0.1:9/cb"],"client_id":"demo-id","client_secret":"demo-secret"}"#)
        XCTAssertEqual(app.json["client_id"] as? String, "demo-id")
        XCTAssertEqual(app.json["client_secret"] as? String, "demo-secret")
        let generated = try await json(.post, "/_fake/apps", #"{"name":"gen","redirect_uris":["https://x/cb"]}"#)
        XCTAssertTrue((generated.json["client_secret"] as? String)?.hasPrefix("gto_") ?? false)

        try await assertEqualAsync(try await json(.put, "/_fake/auto-approve", #"{"login":"dave"}"#).status, 204)
        let authorize = try await send(
            .GET, authorizePath(clientID: "demo-id", redirectURI: "http://127.0.0.1:9/cb"))
        let code = try XCTUnwrap(authorize.locationQuery["code"])
        try await assertEqualAsync(try await json(.put, "/_fake/auto-approve", #"{"login":null}"#).status, 204)
        try await assertEqualAsync(
            try await send(.GET, authorizePath(clientID: "demo-id", redirectURI: "http://127.0.0.1:9/cb")).location,
            "/user/login")

        try await assertEqualAsync(
            try await json(.post, "/_fake/lifetimes", #"{"access_seconds":30,"refresh_hours":2}"#).status, 204)
        let demo = FakeAppCredentials(clientID: "demo-id", clientSecret: "demo-secret")
        let issued = try await exchange(code, app: demo)
        XCTAssertEqual(issued.json["expires_in"] as? Int, 30)
        let access = try XCTUnwrap(issued.json["access_token"] as? String)

        try await assertEqualAsync(try await json(.post, "/_fake/clock/advance", #"{"seconds":31}"#).status, 204)
        try await assertEqualAsync(try await apiGet("/api/v1/user", token: access).status, 401)
        try await assertEqualAsync(try await json(.post, "/_fake/users/dave/expire-tokens", "{}").status, 204)
        try await assertEqualAsync(try await json(.post, "/_fake/users/nobody/expire-tokens", "{}").status, 404)

        let fault = try await json(.post, "/_fake/faults", #"{"target":"api","kind":"hang","milliseconds":1}"#)
        XCTAssertEqual(fault.status, 204)
        try await assertEqualAsync(try await json(.post, "/_fake/faults", #"{"target":"api","kind":"explode"}"#).status, 400)
        try await assertEqualAsync(try await json(.delete, "/_fake/faults").status, 204)

        try await assertEqualAsync(try await json(.delete, "/_fake/grants/dave/demo-id").status, 204)
        try await assertEqualAsync(try await json(.delete, "/_fake/grants/dave/demo-id").status, 404)
        try await assertEqualAsync(try await json(.delete, "/_fake/apps/demo-id").status, 204)
        try await assertEqualAsync(try await json(.delete, "/_fake/apps/demo-id").status, 404)

        let counters = try await send(.GET, "/_fake/counters")
        let tokenRequests = try XCTUnwrap(counters.json["token_requests"] as? [String: Int])
        XCTAssertEqual(tokenRequests["authorization_code:ok"], 1)
        XCTAssertNotNil(counters.json["api_calls"] as? [String: Int])
    }
}

/// Spelled-out methods so the control test reads like the documented endpoint list.
enum HTTPMethodName {
    case post, put, delete

    var value: HTTPMethod {
        switch self {
        case .post: .POST
        case .put: .PUT
        case .delete: .DELETE
        }
    }
}
