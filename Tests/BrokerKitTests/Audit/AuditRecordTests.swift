import Foundation
import XCTest

@testable import BrokerKit

/// How an audit record bounds the strings a client chooses.
final class AuditRecordTests: XCTestCase {
    /// One grapheme cluster of about 1 MiB ("a" and 500 000 combining accents): counting
    /// Characters would keep all of it.
    private let oneHugeCharacter = "a" + String(repeating: "\u{0301}", count: 500_000)

    func testClientChosenFieldsAreBoundedInUTF8BytesNotCharacters() throws {
        let record = AuditRecord(event: .toolCall, user: oneHugeCharacter, client: oneHugeCharacter, tool: oneHugeCharacter,
                                 outcome: "ok", requestID: oneHugeCharacter, detail: oneHugeCharacter).bounded
        for field in [record.user, record.client, record.tool, record.requestID, record.detail] {
            let text = try XCTUnwrap(field)
            XCTAssertLessThanOrEqual(text.utf8.count, 256)
            XCTAssertGreaterThanOrEqual(text.utf8.count, 255, "as much as fits is kept")
            XCTAssertTrue(oneHugeCharacter.unicodeScalars.starts(with: text.unicodeScalars), "a prefix, cut between scalars")
        }
        XCTAssertLessThan(record.jsonLine.count, 8 * 1024, "the whole record stays small")
    }

    func testTheCutFallsOnAScalarBoundaryAndShortFieldsAreKept() {
        var record = AuditRecord(event: .toolCall, user: "alice", client: "c1", tool: String(repeating: "€", count: 100), outcome: "ok",
                                 requestID: String(repeating: "x", count: 256))
        // "€" is 3 bytes: 85 of them are 255 bytes, an 86th would pass 256.
        XCTAssertEqual(record.bounded.tool, String(repeating: "€", count: 85))
        XCTAssertEqual(record.bounded.requestID?.utf8.count, 256, "exactly the bound is kept")
        XCTAssertEqual(record.bounded.client, "c1")
        record.tool = "🙂" + String(repeating: "y", count: 300)
        XCTAssertEqual(record.bounded.tool, "🙂" + String(repeating: "y", count: 252))
    }
}
