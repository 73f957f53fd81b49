import BrokerKit
import Foundation
import XCTest

/// Revocation reaches every child, stream and parked call it covers, in both eras. Alice uses
/// two OAuth clients: A (in the era under test, with a `subscriptions/listen` stream open) and B
/// (a 2026-07-28 client on her user child). Revoking A's grant ends A's session, calls and
/// stream while the user child keeps serving B; revoking B's grant too leaves no child holding
/// her token (checked by pid).
final class MCPRevocationTests: XCTestCase {
    /// How one kind of revocation is triggered for a client.
    typealias Revocation = @Sendable (MCPTestBroker, MCPLogin.Tokens) async throws -> Void

    /// RFC 7009: the client revokes its own token.
    private static let revokeEndpoint: Revocation = { broker, tokens in
        let answer = try await MCPLogin.send(broker.baseURL + "/oauth/revoke", httpClient: broker.httpClient, form: [
            ("token", tokens.accessToken), ("client_id", tokens.clientID),
        ])
        XCTAssertEqual(answer.status, 200, answer.body)
    }

    /// A rotated refresh token presented again after its successor was used: the whole family
    /// (the grant) is revoked.
    private static let refreshReplay: Revocation = { broker, tokens in
        let refresh = try XCTUnwrap(tokens.refreshToken)
        func redeem(_ token: String) async throws -> JSONAnswer {
            try await MCPLogin.send(broker.baseURL + "/oauth/token", httpClient: broker.httpClient, form: [
                ("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", tokens.clientID),
            ])
        }
        let first = try await redeem(refresh)
        let successor = try XCTUnwrap(first.json["refresh_token"] as? String, first.body)
        let second = try await redeem(successor)
        XCTAssertEqual(second.status, 200, second.body)
        let replay = try await redeem(refresh)
        XCTAssertEqual(replay.error, "invalid_grant", replay.body)
    }

    func testRevokeEndpointEndsTheClientsWorkLegacy() async throws {
        try await revocationEndsTheClientsWork(.legacy, revoke: Self.revokeEndpoint)
    }

    func testRevokeEndpointEndsTheClientsWorkModern() async throws {
        try await revocationEndsTheClientsWork(.modern, revoke: Self.revokeEndpoint)
    }

    func testRefreshReplayEndsTheClientsWorkLegacy() async throws {
        try await revocationEndsTheClientsWork(.legacy, revoke: Self.refreshReplay)
    }

    func testRefreshReplayEndsTheClientsWorkModern() async throws {
        try await revocationEndsTheClientsWork(.modern, revoke: Self.refreshReplay)
    }

    private func revocationEndsTheClientsWork(_ era: TestEra, revoke: Revocation) async throws {
        let broker = try await MCPTestBroker.start(childOptions: ["--notify"], environment: ["FJMCP_REFRESH_GRACE": "0s"])
        addTeardownBlock { await broker.stop() }
        let (signedInA, tokensA) = try await broker.signIn()
        let (clientB, tokensB) = try await broker.signIn()
        XCTAssertNotEqual(tokensA.clientID, tokensB.clientID)
        let clientA = try await era.ready(signedInA)
        let pidA = try await pid(of: era.tool(clientA, id: 1, "whoami"))
        let userChildPID = try await pid(of: TestEra.modern.tool(clientB, id: 2, "whoami"))
        XCTAssertEqual(pidA == userChildPID, era == .modern, "legacy sessions have their own child; modern clients share the user's")
        let stream = try await listen(clientA)

        try await revoke(broker, tokensA)
        let refused = try await era.tool(clientA, id: 3, "whoami")
        XCTAssertEqual(refused.status, 401, refused.body)
        let end = await ended(stream)
        XCTAssertTrue(end, "\(era): the revoked client's listen stream is still open")
        if era == .legacy {
            let gone = await eventually { !processExists(pidA) }
            XCTAssertTrue(gone, "the revoked client's session child \(pidA) is still running")
        }
        let stillB = try await pid(of: TestEra.modern.tool(clientB, id: 4, "whoami"))
        XCTAssertEqual(stillB, userChildPID, "another client's grant is live: the user child keeps serving it")
        let listeners = await broker.host.listenerCount(userID: 101)
        XCTAssertEqual(listeners, 0)

        try await revoke(broker, tokensB)
        let gone = await eventually { !processExists(userChildPID) }
        XCTAssertTrue(gone, "the user child \(userChildPID) still holds the token of a user with no live grant")
        let children = await broker.host.childCount
        XCTAssertEqual(children, 0)
    }

    private func pid(of reply: MCPReply) throws -> Int32 {
        try XCTUnwrap((reply.structured?["pid"] as? Int).map(Int32.init), reply.body)
    }

    private func listen(_ client: MCPTestClient) async throws -> MCPStream {
        let (body, headers) = ModernEraTests.request(id: "sub", method: "subscriptions/listen",
                                                     params: ["notifications": ["toolsListChanged": true]])
        let stream = try await client.stream(client.request(body: body, headers: headers))
        XCTAssertEqual(stream.status, 200)
        let acknowledged = await next(stream)
        XCTAssertEqual(acknowledged?["method"] as? String, "notifications/subscriptions/acknowledged")
        return stream
    }

    /// Whether the stream ends (graceful result or closed) within a few seconds.
    private func ended(_ stream: MCPStream) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                while let message = await stream.next() {
                    if message["result"] != nil { return true }
                }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(5))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    private func next(_ stream: MCPStream) async -> [String: Any]? {
        await stream.next()
    }
}
