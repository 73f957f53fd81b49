import BrokerWire
import XCTest

final class IPAddressTests: XCTestCase {
    /// An IPv4 address built from its 4 bytes (as the NAT64 check takes them out of an IPv6
    /// address) is the same address as its text parsed.
    func testIPv4FromBytesEqualsTheParsedText() throws {
        let nat64 = try XCTUnwrap(IPAddress(parsing: "64:ff9b::c000:0201"))
        let embedded = IPAddress(ipv4: nat64.bytes[12...])
        XCTAssertEqual(embedded, IPAddress(parsing: "192.0.2.1"))
        XCTAssertTrue(embedded.isIPv4)
        XCTAssertEqual(embedded.text, "192.0.2.1")
    }
}
