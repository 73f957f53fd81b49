import BrokerKit
import Foundation
import Logging
import XCTest

final class CryptoTests: XCTestCase {
    let key = [UInt8](repeating: 7, count: 32)

    func testSealOpenRoundTrip() throws {
        let box = SecretBox(masterKey: key, purpose: "upstream-tokens")
        let sealed = box.seal("forgejo-token", context: "user:42")
        XCTAssertFalse(sealed.contains("forgejo-token"))
        XCTAssertEqual(try box.openString(sealed, context: "user:42"), "forgejo-token")
        XCTAssertNotEqual(sealed, box.seal("forgejo-token", context: "user:42"), "nonces must differ")
    }

    func testOpenFailsWithWrongKeyContextPurposeOrTampering() throws {
        let box = SecretBox(masterKey: key, purpose: "upstream-tokens")
        let sealed = box.seal("secret", context: "user:42")
        XCTAssertThrowsError(try SecretBox(masterKey: [UInt8](repeating: 8, count: 32), purpose: "upstream-tokens").open(sealed, context: "user:42"))
        XCTAssertThrowsError(try box.open(sealed, context: "user:43"))
        XCTAssertThrowsError(try SecretBox(masterKey: key, purpose: "request-state").open(sealed, context: "user:42"))
        var bytes = Array(sealed.utf8)
        bytes[bytes.count - 3] = bytes[bytes.count - 3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        XCTAssertThrowsError(try box.open(String(decoding: bytes, as: UTF8.self), context: "user:42"))
        XCTAssertThrowsError(try box.open("garbage", context: "user:42"))
        XCTAssertThrowsError(try box.open("", context: "user:42"))
    }

    func testKeyIDAllowsRotation() throws {
        let oldKey = [UInt8](repeating: 1, count: 32)
        let sealedWithOld = SecretBox(masterKey: oldKey, purpose: "p").seal("v", context: "c")
        let rotated = SecretBox(masterKey: key, purpose: "p", previousMasterKeys: [oldKey])
        XCTAssertEqual(try rotated.openString(sealedWithOld, context: "c"), "v")
        XCTAssertNotEqual(sealedWithOld.split(separator: ".").first, rotated.seal("v", context: "c").split(separator: ".").first)
    }

    func testOpaqueTokensAreLongRandomAndPrefixed() {
        let token = OpaqueToken.generate(.accessToken)
        XCTAssertTrue(token.hasPrefix("fjat_"))
        XCTAssertEqual(Base64URL.decode(String(token.dropFirst(5)))?.count, 32)
        XCTAssertNotEqual(token, OpaqueToken.generate(.accessToken))
        XCTAssertTrue(token.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" })
    }

    func testHashingAndPKCE() {
        XCTAssertEqual(TokenHasher.hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // RFC 7636 appendix B test vector.
        XCTAssertEqual(TokenHasher.pkceChallenge(verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
                       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }

    func testConstantTimeEquals() {
        XCTAssertTrue(ConstantTime.equals("same", "same"))
        XCTAssertFalse(ConstantTime.equals("same", "samf"))
        XCTAssertFalse(ConstantTime.equals("same", "same-longer"))
        XCTAssertTrue(ConstantTime.equals("", ""))
    }

    func testSignerDetectsTampering() {
        let signer = Signer(masterKey: key, purpose: "consent")
        let signed = signer.sign("client=abc")
        XCTAssertEqual(signer.verify(signed), "client=abc")
        XCTAssertNil(signer.verify(signed.replacingOccurrences(of: "abc", with: "abd")))
        XCTAssertNil(Signer(masterKey: key, purpose: "other").verify(signed))
        XCTAssertNil(signer.verify("no-signature"))
    }

    func testEncodings() {
        XCTAssertEqual(Base64URL.encode([0xFB, 0xFF]), "-_8")
        XCTAssertEqual(Base64URL.decode("-_8"), [0xFB, 0xFF])
        XCTAssertNil(Base64URL.decode("a"))
        XCTAssertEqual(Hex.encode([0x00, 0xAB]), "00ab")
        XCTAssertEqual(Hex.decode("00AB"), [0x00, 0xAB])
        XCTAssertNil(Hex.decode("0g"))
    }

    func testSecretKeyIsGeneratedOnceWithPrivateMode() throws {
        let dir = try TemporaryDirectory()
        let logger = Logger(label: "test")
        let first = try SecretKeyStore.load(configured: nil, dataDirectory: dir.path, logger: logger)
        XCTAssertEqual(first.count, 32)
        var info = stat()
        XCTAssertEqual(stat(dir.path + "/secret.key", &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        XCTAssertEqual(try SecretKeyStore.load(configured: nil, dataDirectory: dir.path, logger: logger), first)
        let configured = [UInt8](repeating: 3, count: 32)
        XCTAssertEqual(try SecretKeyStore.load(configured: configured, dataDirectory: dir.path, logger: logger), configured)
    }

    func testKeyFileTooOpenOrMalformedIsRefused() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/secret.key"
        try Base64URL.encode([UInt8](repeating: 1, count: 32)).write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o640)
        XCTAssertThrowsError(try SecretKeyStore.load(configured: nil, dataDirectory: dir.path, logger: Logger(label: "t"))) { error in
            XCTAssertEqual(error as? SecretKeyStore.Failure, .tooOpen(path: path, mode: "640"))
        }
        chmod(path, 0o600)
        try "not a key".write(toFile: path, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try SecretKeyStore.read(path)) { error in
            XCTAssertEqual(error as? SecretKeyStore.Failure, .malformed(path: path))
        }
        let created = try SecretKeyStore.load(configured: nil, dataDirectory: dir.path + "/new/dir", logger: Logger(label: "t"))
        XCTAssertEqual(try SecretKeyStore.read(dir.path + "/new/dir/secret.key"), created, "a missing data directory is created")
        FileManager.default.createFile(atPath: dir.path + "/file", contents: Data())
        XCTAssertThrowsError(try SecretKeyStore.load(configured: nil, dataDirectory: dir.path + "/file", logger: Logger(label: "t")))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/new/dir")
        XCTAssertEqual(leftovers, ["secret.key"], "no temporary files remain")
    }
}

/// Key rotation: what the previous key signed still verifies; new signatures use the new key.
final class SignerRotationTests: XCTestCase {
    func testCookiesSignedWithThePreviousKeyStillVerify() {
        let old = [UInt8](repeating: 1, count: 32)
        let new = [UInt8](repeating: 2, count: 32)
        let signedWithOld = Signer(masterKey: old, purpose: "consent").sign("payload")
        XCTAssertNil(Signer(masterKey: new, purpose: "consent").verify(signedWithOld), "the new key alone refuses it")
        let rotated = Signer(masterKey: new, purpose: "consent", previousMasterKeys: [old])
        XCTAssertEqual(rotated.verify(signedWithOld), "payload")
        let resigned = rotated.sign("payload")
        XCTAssertNotEqual(resigned, signedWithOld)
        XCTAssertEqual(Signer(masterKey: new, purpose: "consent").verify(resigned), "payload", "re-signed with the new key")
        XCTAssertNil(Signer(masterKey: new, purpose: "csrf", previousMasterKeys: [old]).verify(signedWithOld), "purposes stay apart")
    }
}
