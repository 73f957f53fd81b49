import Foundation
import XCTest

@testable import BrokerWire

final class AuthorizationHeaderTests: XCTestCase {
    func testBearerToken() throws {
        XCTAssertEqual(try AuthorizationHeader.bearerToken(["Bearer abc"]), "abc")
        XCTAssertEqual(try AuthorizationHeader.bearerToken(["bEaReR   abc \t"]), "abc")
        XCTAssertEqual(try AuthorizationHeader.bearerToken(["Bearer \u{00A0}a b\u{2003}"]), "a b", "Unicode space separators are trimmed too")
        XCTAssertEqual(try AuthorizationHeader.bearerToken(["Bearer a\u{00A0}b"]), "a\u{00A0}b", "only around the token")
        // The plain form's shortcut and the general parse read the same tokens.
        XCTAssertEqual(try AuthorizationHeader.bearerToken(["Bearer fjat_x y"]), "fjat_x y")
        XCTAssertEqual(try AuthorizationHeader.bearerToken(["Bearer  fjat_x"]), "fjat_x")
        XCTAssertEqual(try AuthorizationHeader.bearerToken(["Bearer fjat_x\u{2003}"]), "fjat_x")
        XCTAssertEqual(try AuthorizationHeader.bearerToken(["Bearer \u{00E9}t\u{00E9}"]), "\u{00E9}t\u{00E9}")
    }

    func testBearerRefusals() {
        func failure(_ values: [String]) -> AuthorizationHeader.Failure? {
            do {
                _ = try AuthorizationHeader.bearerToken(values)
                return nil
            } catch {
                return error
            }
        }
        XCTAssertEqual(failure([]), .missing)
        XCTAssertEqual(failure(["Basic Zm9vOmJhcg=="]), .missing)
        XCTAssertEqual(failure([""]), .missing)
        XCTAssertEqual(failure(["Bearer"]), .malformed)
        // Two spaces after the scheme once read as an empty token (Fuzz/authorization).
        XCTAssertEqual(failure(["Bearer  "]), .malformed)
        XCTAssertEqual(failure(["Bearer \t "]), .malformed)
        XCTAssertEqual(failure(["Bearer a", "Bearer b"]), .malformed)
    }

    func testBasicCredentialsAreFormDecoded() throws {
        let encoded = Data("my%20app:s%2Bc+r%3At".utf8).base64EncodedString()
        let credentials = try AuthorizationHeader.basicCredentials(["Basic \(encoded)"])
        XCTAssertEqual(credentials?.id, "my app")
        XCTAssertEqual(credentials?.secret, "s+c r:t")
        XCTAssertNil(try AuthorizationHeader.basicCredentials([]))
    }

    func testBasicRefusals() {
        let colonless = Data("id".utf8).base64EncodedString()
        let emptyID = Data(":secret".utf8).base64EncodedString()
        let badPercent = Data("%zz:x".utf8).base64EncodedString()
        let latin1 = Data([0x69, 0x3A, 0xFF]).base64EncodedString()
        for values in [["Bearer x"], ["Basic !!!"], ["Basic \(colonless)"], ["Basic \(emptyID)"], ["Basic \(badPercent)"],
                       ["Basic \(latin1)"], ["Basic \(emptyID)", "Basic \(emptyID)"], ["Basic " + String(repeating: "A", count: 4_096)]] {
            XCTAssertThrowsError(try AuthorizationHeader.basicCredentials(values), "\(values)") {
                XCTAssertEqual($0 as? AuthorizationHeader.Failure, .malformed)
            }
        }
    }
}
