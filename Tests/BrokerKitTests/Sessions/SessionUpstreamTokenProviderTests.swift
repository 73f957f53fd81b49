import Foundation
import XCTest

@testable import BrokerKit

/// The store-backed token provider opens exactly what the login callback sealed, and turns
/// every other state into the right one of "sign in again" or "try later".
final class SessionUpstreamTokenProviderTests: XCTestCase {
    private var store: SQLiteStore!
    private var path = ""
    private let key = OpaqueToken.randomBytes(32)

    override func setUp() async throws {
        path = NSTemporaryDirectory() + "sessions-\(UUID().uuidString).sqlite"
        store = try SQLiteStore(path: path)
        try await store.upsertUser(UserRecord(id: 7, login: "alice", createdAt: Date(), updatedAt: Date()))
    }

    override func tearDown() async throws {
        try? store.close()
        try? FileManager.default.removeItem(atPath: path)
    }

    private func seal(_ set: UpstreamTokenSet, key: [UInt8]) async throws {
        let sealed = set.seal(with: SecretBox(masterKey: key, purpose: UpstreamTokenSet.purpose), userID: 7)
        _ = try await store.replaceUpstreamTokens(userID: 7, sealed: sealed, accessExpiresAt: set.accessExpiresAt, now: Date())
    }

    private func failure(_ provider: StoreUpstreamTokenProvider) async -> UpstreamCredentialError? {
        do {
            _ = try await provider.accessToken(userID: 7)
            return nil
        } catch {
            return error
        }
    }

    func testOpensTheStoredToken() async throws {
        let expiry = Date().addingTimeInterval(3600)
        try await seal(UpstreamTokenSet(accessToken: "forgejo-access", refreshToken: "r", accessExpiresAt: expiry), key: key)
        let credential = try await StoreUpstreamTokenProvider(store: store, masterKey: key).accessToken(userID: 7)
        XCTAssertEqual(credential.token, "forgejo-access")
        XCTAssertEqual(credential.expiresAt?.timeIntervalSince1970 ?? 0, expiry.timeIntervalSince1970, accuracy: 1)
        XCTAssertFalse("\(credential)".contains("forgejo-access"))
    }

    func testMissingOrExpiredTokensRequireLogin() async throws {
        let provider = StoreUpstreamTokenProvider(store: store, masterKey: key)
        let missing = await failure(provider)
        XCTAssertEqual(missing, .loginRequired(reason: "no_upstream_tokens"))
        try await seal(UpstreamTokenSet(accessToken: "old", refreshToken: nil, accessExpiresAt: Date().addingTimeInterval(-5)), key: key)
        let expired = await failure(provider)
        XCTAssertEqual(expired, .loginRequired(reason: "upstream_token_expired"))
    }

    /// A set the key cannot open asks the user to sign in again (401, never a server error) but
    /// stays stored: an operator who restores the key, or names it as the previous one, gets it back.
    func testASetSealedWithAnotherKeyAsksToSignInAgainAndOpensWithThePreviousKey() async throws {
        let oldKey = OpaqueToken.randomBytes(32)
        try await seal(UpstreamTokenSet(accessToken: "t", refreshToken: nil, accessExpiresAt: nil), key: oldKey)
        let unreadable = await failure(StoreUpstreamTokenProvider(store: store, masterKey: key))
        XCTAssertEqual(unreadable, .loginRequired(reason: "upstream_tokens_unreadable"))
        let kept = try await store.upstreamTokens(userID: 7)
        XCTAssertNotNil(kept)
        let rotated = StoreUpstreamTokenProvider(store: store, masterKey: key, previousMasterKeys: [oldKey])
        let credential = try await rotated.accessToken(userID: 7)
        XCTAssertEqual(credential.token, "t")
    }
}
