import XCTest

@testable import BrokerWire

final class PublicURLTests: XCTestCase {
    /// Found by Fuzz/redirect-uri: empty IPv6 brackets were a host part without a host.
    func testEmptyBracketsAreNoHost() {
        for text in ["https://[]", "https://[]/path", "http://[]:8080"] {
            guard case .failure(let problem) = PublicURL.parse(text, allowPath: true) else {
                return XCTFail("\(text) parsed")
            }
            XCTAssertEqual(problem.message, "missing host")
        }
        guard case .success(let url) = PublicURL.parse("http://[::1]:8080") else { return XCTFail("[::1] refused") }
        XCTAssertEqual(url.host, "::1")
        XCTAssertEqual(url.origin, "http://[::1]:8080")
    }
}
