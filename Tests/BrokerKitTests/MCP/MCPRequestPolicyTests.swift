import XCTest

@testable import BrokerKit

/// Header rules of `/mcp` that are pure string handling.
final class MCPRequestPolicyTests: XCTestCase {
    func testAcceptMatchingIsLenientWithWildcards() {
        XCTAssertTrue(MCPRequestPolicy.allows(nil, "text/event-stream"))
        XCTAssertTrue(MCPRequestPolicy.allows(["*/*"], "application/json"))
        XCTAssertTrue(MCPRequestPolicy.allows(["text/*"], "text/event-stream"))
        XCTAssertFalse(MCPRequestPolicy.allows(["application/json"], "text/event-stream"))
    }

    func testHostPartStripsPortsAndBrackets() {
        XCTAssertEqual(MCPRequestPolicy.hostPart(of: "127.0.0.1:8080"), "127.0.0.1")
        XCTAssertEqual(MCPRequestPolicy.hostPart(of: "[::1]:8080"), "::1")
        XCTAssertEqual(MCPRequestPolicy.hostPart(of: "mcp.example.com"), "mcp.example.com")
    }

    func testBatchesBelongTo20250326Only() {
        XCTAssertTrue(MCPProtocolVersion.allowsBatches("2025-03-26"))
        XCTAssertFalse(MCPProtocolVersion.allowsBatches("2025-06-18"))
        XCTAssertFalse(MCPProtocolVersion.allowsBatches("2025-11-25"))
    }

    func testRequestErrorsMapToOneStatusAndCode() {
        XCTAssertEqual(MCPRequestError.originNotAllowed("x").status, .forbidden)
        XCTAssertEqual(MCPRequestError.unsupportedMediaType.status, .unsupportedMediaType)
        XCTAssertEqual(MCPRequestError.malformed(.parseError("x")).code, -32700)
        XCTAssertEqual(MCPRequestError.session(.notFound, rawID: nil, challenge: nil).status.code, 404)
        XCTAssertEqual(MCPRequestError.session(.childStartFailed("x"), rawID: nil, challenge: nil).status.code, 502)
        XCTAssertEqual(MCPRequestError.session(.limitReached("x"), rawID: nil, challenge: nil).status.code, 503)
        XCTAssertEqual(SessionError.loginRequired(reason: "x").httpStatus, 401)
    }
}
