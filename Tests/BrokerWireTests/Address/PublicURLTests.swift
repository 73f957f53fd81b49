import XCTest

@testable import BrokerWire

final class PublicURLTests: XCTestCase {
    private func assertRefused(_ texts: [String], saying message: String, line: UInt = #line) {
        for text in texts {
            guard case .failure(let problem) = PublicURL.parse(text, allowPath: true) else {
                return XCTFail("\(text) parsed", line: line)
            }
            XCTAssertEqual(problem.message, message, line: line)
        }
    }

    /// Found by Fuzz/redirect-uri: empty IPv6 brackets were a host part without a host.
    func testEmptyBracketsAreNoHost() {
        assertRefused(["https://[]", "https://[]/path", "http://[]:8080"], saying: "missing host")
        guard case .success(let url) = PublicURL.parse("http://[::1]:8080") else { return XCTFail("[::1] refused") }
        XCTAssertEqual(url.host, "::1")
        XCTAssertEqual(url.origin, "http://[::1]:8080")
    }

    /// Found by Fuzz/redirect-uri: `%12` in a host decoded to a control character, and the URL
    /// written out again did not parse.
    func testAPercentEncodedHostIsRefused() {
        assertRefused(["http://%127.localhost/1080", "https://exa%2Fmple.org", "https://a%40b.example"],
                      saying: "the host must not be percent-encoded")
        guard case .success(let url) = PublicURL.parse("https://broker.example.org") else { return XCTFail("a plain host refused") }
        XCTAssertEqual(url.host, "broker.example.org")
    }
}
