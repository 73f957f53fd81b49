@testable import BrokerKit
import Foundation
import HTTPTypes
import NIOCore
import XCTest

final class ReplicaHopSignatureTests: XCTestCase {
    private let secret = [UInt8](repeating: 7, count: 32)
    private let now = Date(timeIntervalSince1970: 1_800_000_000)
    private var signature: ReplicaHopSignature { ReplicaHopSignature(key: ReplicaHopKey(masterKey: secret)) }

    private func facts(method: String = "POST", authority: String = "broker.example", path: String = "/mcp",
                       sessionID: String? = "session-1", body: String = #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
                       client: String = "203.0.113.9", target: String = "replica-B",
                       headers: HTTPFields = [.authorization: "Bearer t0k", .mcpProtocolVersion: "2025-11-25"]) -> ReplicaHopFacts {
        ReplicaHopFacts(target: target, method: method, authority: authority, path: path, sessionID: sessionID, headers: headers,
                        body: ByteBuffer(string: body), clientAddress: client)
    }

    private func assertRefused(_ header: String, _ facts: ReplicaHopFacts, at time: Date? = nil, as expected: ReplicaHopError,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try signature.verify(header, facts: facts, now: time ?? now), file: file, line: line) { error in
            XCTAssertEqual(error as? ReplicaHopError, expected, file: file, line: line)
        }
    }

    func testASignedHopVerifiesAndNamesItsSender() throws {
        let header = signature.sign(facts(), sender: "replica-A", at: now)
        XCTAssertTrue(header.hasPrefix("v1.replica-A.1800000000000."), header)
        XCTAssertEqual(try signature.verify(header, facts: facts(), now: now), "replica-A")
        // A hop without a session or body (GET listen, DELETE) signs as well.
        let bare = facts(method: "GET", sessionID: nil, body: "")
        XCTAssertEqual(try signature.verify(signature.sign(bare, sender: "replica-A", at: now), facts: bare, now: now), "replica-A")
    }

    func testEveryCoveredFactChangedIsABadSignature() {
        let header = signature.sign(facts(), sender: "replica-A", at: now)
        for tampered in [
            facts(body: #"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#), facts(path: "/mcp?x=1"), facts(sessionID: "session-2"),
            facts(sessionID: nil), facts(sessionID: ""), facts(method: "DELETE"), facts(authority: "evil.example"),
            facts(client: "198.51.100.1"), facts(target: "replica-C"),
            facts(headers: [.authorization: "Bearer other", .mcpProtocolVersion: "2025-11-25"]),
            facts(headers: [.authorization: "Bearer t0k", .mcpProtocolVersion: "2025-06-18"]),
            facts(headers: [.authorization: "Bearer t0k", .mcpProtocolVersion: "2025-11-25", .accept: "text/event-stream"]),
            facts(headers: [.authorization: "Bearer t0k"]),
        ] {
            assertRefused(header, tampered, as: .badSignature)
        }
        // Another sender id in the header is not covered by the MAC it carries.
        assertRefused(header.replacingOccurrences(of: "replica-A", with: "replica-B"), facts(), as: .badSignature)
    }

    func testHeadersTheHopDoesNotForwardAndTheForwardedOnesOrderAreNotCovered() throws {
        let header = signature.sign(facts(), sender: "replica-A", at: now)
        let reordered = facts(headers: [.mcpProtocolVersion: "2025-11-25", .authorization: "Bearer t0k", .userAgent: "curl", .cookie: "x"])
        XCTAssertEqual(try signature.verify(header, facts: reordered, now: now), "replica-A")
    }

    func testAHopSignedWithAnotherSecretIsABadSignature() {
        let other = ReplicaHopSignature(key: ReplicaHopKey(masterKey: [UInt8](repeating: 8, count: 32)))
        assertRefused(other.sign(facts(), sender: "replica-A", at: now), facts(), as: .badSignature)
    }

    func testAHopSignedWithAPreviousSecretVerifiesDuringARotation() throws {
        let previous = [UInt8](repeating: 9, count: 32)
        let rotated = ReplicaHopSignature(key: ReplicaHopKey(masterKey: secret, previousMasterKeys: [previous]))
        let oldReplica = ReplicaHopSignature(key: ReplicaHopKey(masterKey: previous))
        XCTAssertEqual(try rotated.verify(oldReplica.sign(facts(), sender: "old", at: now), facts: facts(), now: now), "old")
    }

    func testTheKeyIsNotTheSecretNorAnotherPurposesKey() {
        // A MAC made with the raw secret, or with the cookie signer's derivation, is refused.
        let header = signature.sign(facts(), sender: "replica-A", at: now)
        let forged = Signer(masterKey: secret, purpose: "replica-hop").sign("x")
        let mac = String(forged.split(separator: ".").last ?? "")
        let parts = header.split(separator: ".").dropLast().joined(separator: ".")
        assertRefused(parts + "." + mac, facts(), as: .badSignature)
    }

    func testAHopOutsideTheThirtySecondWindowIsRefusedEitherWay() throws {
        let header = signature.sign(facts(), sender: "replica-A", at: now)
        XCTAssertNoThrow(try signature.verify(header, facts: facts(), now: now.addingTimeInterval(30)))
        XCTAssertNoThrow(try signature.verify(header, facts: facts(), now: now.addingTimeInterval(-30)))
        assertRefused(header, facts(), at: now.addingTimeInterval(30.001), as: .outsideWindow(skewMilliseconds: -30_001))
        assertRefused(header, facts(), at: now.addingTimeInterval(-31), as: .outsideWindow(skewMilliseconds: 31_000))
    }

    func testMalformedAndForgedHeadersAreRefused() {
        let mac = Base64URL.encode([UInt8](repeating: 1, count: 32))
        assertRefused("", facts(), as: .malformed)
        assertRefused("v1.replica-A.1800000000000", facts(), as: .malformed)
        assertRefused("v1.replica-A.1800000000000.\(mac).extra", facts(), as: .malformed)
        assertRefused("v1..1800000000000.\(mac)", facts(), as: .malformed)
        assertRefused("v1.replica-A.soon.\(mac)", facts(), as: .malformed)
        assertRefused("v1.replica-A.1800000000000.!!!", facts(), as: .malformed)
        assertRefused("v1.replica-A.1800000000000.\(Base64URL.encode([1, 2, 3]))", facts(), as: .malformed)
        assertRefused("v2.replica-A.1800000000000.\(mac)", facts(), as: .unsupportedVersion("v2"))
        // Well-formed, current, but not made with the key.
        assertRefused("v1.replica-A.1800000000000.\(mac)", facts(), as: .badSignature)
    }
}
