import AsyncHTTPClient
@testable import BrokerKit
import FakeForgejo
import Foundation
import XCTest

/// ``SignInCheck`` against a running fake Forgejo: memberships read with the user's own token
/// through `/api/v1/user/orgs` and `/api/v1/user/teams`, paging, and the 403 of a grant that
/// lacks a scope.
final class SignInCheckTests: XCTestCase {
    static let callback = "https://broker.example/oauth/callback"
    static let verifier = "sign-in-check-verifier-0123456789-abcdefghijklmn"

    var server: FakeForgejoServer!
    var http: HTTPClient!
    var credentials: FakeAppCredentials!

    override func setUp() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        try await startForgejo()
    }

    /// A fresh fake Forgejo (replacing a running one) whose pages hold at most `maxResponseItems`.
    func startForgejo(maxResponseItems: Int = 50) async throws {
        await server?.stop()
        server = try await FakeForgejoServer.start(options: FakeForgejoOptions(
            autoApproveUser: "alice", users: [FakeUserSeed(login: "alice", password: "pw", id: 42)], maxResponseItems: maxResponseItems))
        credentials = try await server.state.registerApp(FakeAppSeed(name: "broker", redirectURIs: [Self.callback]))
        try await server.state.createOrganization(name: "Acme")
    }

    override func tearDown() async throws {
        try await http?.shutdown()
        await server?.stop()
    }

    /// A Forgejo client asking for `scopes`, and the access token of alice's login through it.
    func login(scopes: [String]) async throws -> (ForgejoClient, String) {
        let client = ForgejoClient(httpClient: http, configuration: .init(
            baseURL: server.baseURL, clientID: credentials.clientID, clientSecret: credentials.clientSecret,
            callbackURL: Self.callback, scopes: scopes))
        let response = try await http.execute(HTTPClientRequest(url: client.authorizeURL(
            state: "s", codeChallenge: TokenHasher.pkceChallenge(verifier: Self.verifier))), timeout: .seconds(5))
        let location = try XCTUnwrap(response.headers.first(name: "Location"))
        let code = try XCTUnwrap(URLComponents(string: location)?.queryItems?.first { $0.name == "code" }?.value)
        return (client, try await client.exchangeCode(code, codeVerifier: Self.verifier).accessToken)
    }

    func decide(_ users: String = "", _ organizations: String, scopes: [String] = ["read:user", "read:organization"]) async throws
        -> SignInCheck.Decision {
        let (client, token) = try await login(scopes: scopes)
        let check = SignInCheck(policy: try SignInPolicy(users: users, organizations: organizations), forgejo: client)
        return await check.decide(login: "alice", accessToken: token)
    }

    func testListedUserIsAdmittedWithoutReadingMemberships() async throws {
        let decision = try await decide("ALICE", "acme")
        XCTAssertEqual(decision, .admitted)
        let calls = await server.state.counters().apiCalls
        XCTAssertNil(calls["/api/v1/user/orgs"])
    }

    func testOrganisationMemberIsAdmittedAndOthersAreRefused() async throws {
        let refused = try await decide("", "acme")
        XCTAssertEqual(refused, .refused)
        try await server.state.addMember(organization: "acme", login: "alice")
        let admitted = try await decide("", "ACME")
        XCTAssertEqual(admitted, .admitted)
    }

    func testTeamEntryNeedsThatTeam() async throws {
        try await server.state.addMember(organization: "acme", team: "Readers", login: "alice")
        let otherTeam = try await decide("", "acme/ops", scopes: ["read:user"])
        XCTAssertEqual(otherTeam, .refused)
        let team = try await decide("", "acme/readers", scopes: ["read:user"])
        XCTAssertEqual(team, .admitted)
        try await server.state.removeMember(organization: "acme", login: "alice")
        let left = try await decide("", "acme/readers", scopes: ["read:user"])
        XCTAssertEqual(left, .refused, "leaving the organisation leaves its teams")
    }

    func testMembershipBeyondTheFirstPageIsFound() async throws {
        for index in 0..<60 { try await server.state.createOrganization(name: "org\(index)") }
        for index in 0..<60 { try await server.state.addMember(organization: "org\(index)", login: "alice") }
        let decision = try await decide("", "org7")
        XCTAssertEqual(decision, .admitted, "org7 sorts onto page 2 of 50")
        let calls = await server.state.counters().apiCalls
        XCTAssertEqual(calls["/api/v1/user/orgs"], 2)
    }

    func testMembershipIsFoundWhenForgejoPagesHoldFewerThanAsked() async throws {
        try await startForgejo(maxResponseItems: 10)
        for index in 0..<25 { try await server.state.createOrganization(name: "org\(index)") }
        for index in 0..<25 { try await server.state.addMember(organization: "org\(index)", login: "alice") }
        let decision = try await decide("", "org7")
        XCTAssertEqual(decision, .admitted, "org7 sorts onto page 3 of 10 (MAX_RESPONSE_ITEMS=10)")
        let calls = await server.state.counters().apiCalls
        XCTAssertEqual(calls["/api/v1/user/orgs"], 3, "a page shorter than the ones before is the last")
    }

    func testAFewMembershipsCostOneMorePageThatComesBackEmpty() async throws {
        try await server.state.addMember(organization: "acme", login: "alice")
        let decision = try await decide("", "other")
        XCTAssertEqual(decision, .refused)
        let calls = await server.state.counters().apiCalls
        XCTAssertEqual(calls["/api/v1/user/orgs"], 2, "one item may be the server's page size: page 2 confirms the end")
    }

    func testGrantWithoutTheScopeFailsClosedNamingIt() async throws {
        try await server.state.addMember(organization: "acme", login: "alice")
        let decision = try await decide("", "acme", scopes: ["read:user", "read:repository"])
        XCTAssertEqual(decision, .missingScope("read:organization"))
    }

    func testUnreachableForgejoIsNotAnAdmission() async throws {
        let (client, token) = try await login(scopes: [])
        await server.stop()
        server = nil
        var configuration = client.configuration
        configuration.requestTimeout = .milliseconds(500)
        let check = SignInCheck(policy: try SignInPolicy(users: "", organizations: "acme"),
                                forgejo: ForgejoClient(httpClient: http, configuration: configuration))
        let decision = await check.decide(login: "alice", accessToken: token)
        guard case .unavailable = decision else { return XCTFail("\(decision)") }
    }
}
