import XCTest

@testable import BrokerKit

final class RequestIDTests: XCTestCase {
    func testGeneratedIDsAreDistinctAcceptableAndShaped() {
        let ids = (0..<1000).map { _ in RequestIDs.next() }
        XCTAssertEqual(Set(ids).count, ids.count)
        for id in ids {
            XCTAssertEqual(id.utf8.count, 16)
            XCTAssertTrue(RequestIDMiddleware.isAcceptable(id))
            XCTAssertTrue(id.utf8.allSatisfy { $0.isBase64URL })
        }
        // One process-wide prefix, then the counter.
        XCTAssertEqual(Set(ids.map { $0.prefix(8) }).count, 1)
    }

    func testAccessLogDurationHasTwoDecimals() {
        XCTAssertEqual(AccessLogMiddleware.milliseconds(.microseconds(12_345)), "12.34")
        XCTAssertEqual(AccessLogMiddleware.milliseconds(.microseconds(50)), "0.05")
        XCTAssertEqual(AccessLogMiddleware.milliseconds(.seconds(2)), "2000.00")
        XCTAssertEqual(AccessLogMiddleware.milliseconds(.zero), "0.00")
    }

    func testSuccessfulMCPRequestsLogAtDebugAndEverythingElseAtInfo() {
        XCTAssertEqual(AccessLogMiddleware.level(path: "/mcp", status: 200), .debug)
        XCTAssertEqual(AccessLogMiddleware.level(path: "/mcp", status: 202), .debug)
        XCTAssertEqual(AccessLogMiddleware.level(path: "/mcp", status: 401), .info)
        XCTAssertEqual(AccessLogMiddleware.level(path: "/mcp", status: 503), .info)
        XCTAssertEqual(AccessLogMiddleware.level(path: "/oauth/token", status: 200), .info)
    }

    func testHeaderTrimmingTakesSpacesAndTabsOnly() {
        XCTAssertEqual(MCPRequestPolicy.trimmed(" \tapplication/json \t"), "application/json")
        XCTAssertEqual(MCPRequestPolicy.trimmed("   "), "")
        XCTAssertEqual(MCPRequestPolicy.trimmed("a b"), "a b")
    }
}

extension UInt8 {
    fileprivate var isBase64URL: Bool {
        (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) || (0x30...0x39).contains(self) || self == 0x2D || self == 0x5F
    }
}
