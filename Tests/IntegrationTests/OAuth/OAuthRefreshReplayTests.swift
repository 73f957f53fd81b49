import BrokerKit
import Foundation
import XCTest

/// A rotated refresh token answers with its successor only while that successor is unused (and
/// within the grace window); a later use means two parties hold the family, so all of it dies.
final class OAuthRefreshReplayTests: XCTestCase {
    var broker: OAuthTestBroker!
    var browser: ScriptedBrowser!

    override func setUp() async throws {
        broker = try await OAuthTestBroker.start(environment: ["FJMCP_REFRESH_GRACE": "60s"])
        browser = ScriptedBrowser()
    }

    override func tearDown() async throws {
        try? await browser.shutdown()
        await broker.stop()
    }

    func testRedeemingAPredecessorAfterItsSuccessorWasUsedRevokesTheWholeFamily() async throws {
        let client = try await broker.register()
        let tokens = try await broker.logInAndGetTokens(client: client, browser: browser)
        let first = try await broker.refresh(tokens.refreshToken, client: client)
        XCTAssertEqual(first.status, 200, first.body)
        let successor = try XCTUnwrap(first.json["refresh_token"] as? String)
        let second = try await broker.refresh(successor, client: client)
        XCTAssertEqual(second.status, 200, "the successor itself works: \(second.body)")
        let newest = try XCTUnwrap(second.json["refresh_token"] as? String)

        broker.clock.advance(seconds: 1)
        let replay = try await broker.refresh(tokens.refreshToken, client: client)
        XCTAssertEqual(replay.error, "invalid_grant", "inside the grace window, but the successor was used: \(replay.body)")

        let successorAgain = try await broker.refresh(successor, client: client)
        XCTAssertEqual(successorAgain.error, "invalid_grant", "the successor is revoked too")
        let newestAfter = try await broker.refresh(newest, client: client)
        XCTAssertEqual(newestAfter.error, "invalid_grant", "and every later token of the family")
        for response in [first, second] {
            let status = try await broker.mcp(try XCTUnwrap(response.json["access_token"] as? String)).status
            XCTAssertEqual(status, 401, "access tokens of the family are revoked")
        }
    }

    func testAnUnusedSuccessorIsReturnedAgainButOnlyUntilItIsUsed() async throws {
        let client = try await broker.register()
        let tokens = try await broker.logInAndGetTokens(client: client, browser: browser)
        let first = try await broker.refresh(tokens.refreshToken, client: client)
        let lostResponse = try await broker.refresh(tokens.refreshToken, client: client)
        XCTAssertEqual(lostResponse.body, first.body, "a lost response is answered again while the successor is unused")

        let successor = try XCTUnwrap(first.json["refresh_token"] as? String)
        let used = try await broker.refresh(successor, client: client)
        XCTAssertEqual(used.status, 200, used.body)
        let late = try await broker.refresh(tokens.refreshToken, client: client)
        XCTAssertEqual(late.error, "invalid_grant", late.body)
        let newest = try XCTUnwrap(used.json["refresh_token"] as? String)
        let newestAfter = try await broker.refresh(newest, client: client)
        XCTAssertEqual(newestAfter.error, "invalid_grant", "the family, including the newest token, is revoked")
    }
}
