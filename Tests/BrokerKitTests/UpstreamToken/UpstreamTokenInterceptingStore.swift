import BrokerKit
import Foundation
import Synchronization

/// A `BrokerStore` that runs a test's action once, right after the next read of a token set
/// returned or right before the next compare-and-swap of one, so "another process wrote in
/// between" happens at an exact point instead of by luck.
final class UpstreamTokenInterceptingStore: BrokerStore {
    typealias Action = @Sendable () async throws -> Void

    private let base: any BrokerStore
    private let pendingAction = Mutex<Action?>(nil)
    private let pendingSwapAction = Mutex<Action?>(nil)

    init(_ base: any BrokerStore) { self.base = base }

    func afterNextTokenRead(_ action: @escaping Action) {
        pendingAction.withLock { $0 = action }
    }

    func beforeNextTokenSwap(_ action: @escaping Action) {
        pendingSwapAction.withLock { $0 = action }
    }

    func upstreamTokens(userID: Int64) async throws -> UpstreamTokenRecord? {
        let record = try await base.upstreamTokens(userID: userID)
        try await Self.runOnce(pendingAction)
        return record
    }

    private static func runOnce(_ slot: borrowing Mutex<Action?>) async throws {
        if let action = slot.withLock({ pending in defer { pending = nil }; return pending }) {
            try await action()
        }
    }

    func ping() async throws { try await base.ping() }
    func upsertUser(_ user: UserRecord) async throws { try await base.upsertUser(user) }
    func user(id: Int64) async throws -> UserRecord? { try await base.user(id: id) }
    func user(login: String) async throws -> UserRecord? { try await base.user(login: login) }
    func replaceUpstreamTokens(userID: Int64, sealed: String, accessExpiresAt: Date?, now: Date) async throws -> Int64 {
        try await base.replaceUpstreamTokens(userID: userID, sealed: sealed, accessExpiresAt: accessExpiresAt, now: now)
    }
    func swapUpstreamTokens(
        userID: Int64, expectedVersion: Int64, sealed: String, accessExpiresAt: Date?, now: Date
    ) async throws -> Int64? {
        try await Self.runOnce(pendingSwapAction)
        return try await base.swapUpstreamTokens(
            userID: userID, expectedVersion: expectedVersion, sealed: sealed, accessExpiresAt: accessExpiresAt, now: now)
    }
    func deleteUpstreamTokens(userID: Int64) async throws { try await base.deleteUpstreamTokens(userID: userID) }
    func deleteUpstreamTokens(userID: Int64, expectedVersion: Int64) async throws -> Bool {
        try await base.deleteUpstreamTokens(userID: userID, expectedVersion: expectedVersion)
    }
    func insertClient(_ client: ClientRecord) async throws { try await base.insertClient(client) }
    func upsertClient(_ client: ClientRecord) async throws { try await base.upsertClient(client) }
    func client(id: String) async throws -> ClientRecord? { try await base.client(id: id) }
    func clientCount() async throws -> Int { try await base.clientCount() }
    func insertClient(_ client: ClientRecord, maxGrantless: Int) async throws -> Int {
        try await base.insertClient(client, maxGrantless: maxGrantless)
    }
    func deleteGrantlessClients(createdBefore: Date) async throws -> Int { try await base.deleteGrantlessClients(createdBefore: createdBefore) }
    func insertPendingAuthorization(_ pending: PendingAuthorizationRecord, maxPerBrowser: Int, maxTotal: Int, now: Date) async throws -> Bool {
        try await base.insertPendingAuthorization(pending, maxPerBrowser: maxPerBrowser, maxTotal: maxTotal, now: now)
    }
    func pendingAuthorizationCount() async throws -> Int { try await base.pendingAuthorizationCount() }
    func upsertGrant(
        userID: Int64, clientID: String, scope: String, resource: String, newID: String, now: Date
    ) async throws -> GrantRecord {
        try await base.upsertGrant(userID: userID, clientID: clientID, scope: scope, resource: resource, newID: newID, now: now)
    }
    func grant(id: String) async throws -> GrantRecord? { try await base.grant(id: id) }
    func activeGrants(userID: Int64) async throws -> [GrantRecord] { try await base.activeGrants(userID: userID) }
    func revokeGrant(id: String, now: Date) async throws -> Bool { try await base.revokeGrant(id: id, now: now) }
    func revokeGrants(userID: Int64, now: Date) async throws -> [String] { try await base.revokeGrants(userID: userID, now: now) }
    func touchGrant(id: String, now: Date) async throws { try await base.touchGrant(id: id, now: now) }
    func insertPendingAuthorization(_ pending: PendingAuthorizationRecord) async throws {
        try await base.insertPendingAuthorization(pending)
    }
    func pendingAuthorization(id: String) async throws -> PendingAuthorizationRecord? { try await base.pendingAuthorization(id: id) }
    func pendingAuthorization(upstreamStateHash: String) async throws -> PendingAuthorizationRecord? {
        try await base.pendingAuthorization(upstreamStateHash: upstreamStateHash)
    }
    func beginUpstreamLeg(pendingID: String, upstreamStateHash: String, upstreamVerifierSealed: String) async throws {
        try await base.beginUpstreamLeg(
            pendingID: pendingID, upstreamStateHash: upstreamStateHash, upstreamVerifierSealed: upstreamVerifierSealed)
    }
    func takePendingAuthorization(id: String) async throws -> PendingAuthorizationRecord? {
        try await base.takePendingAuthorization(id: id)
    }
    func insertAuthorizationCode(_ code: AuthorizationCodeRecord) async throws { try await base.insertAuthorizationCode(code) }
    func consumeAuthorizationCode(hash: String, now: Date) async throws -> CodeConsumption {
        try await base.consumeAuthorizationCode(hash: hash, now: now)
    }
    func insertAccessToken(_ token: AccessTokenRecord) async throws { try await base.insertAccessToken(token) }
    func activeAccessToken(hash: String) async throws -> AccessTokenRecord? { try await base.activeAccessToken(hash: hash) }
    func deleteAccessToken(hash: String) async throws -> Bool { try await base.deleteAccessToken(hash: hash) }
    func insertRefreshToken(_ token: RefreshTokenRecord) async throws { try await base.insertRefreshToken(token) }
    func activeRefreshToken(hash: String) async throws -> RefreshTokenRecord? { try await base.activeRefreshToken(hash: hash) }
    func rotateRefreshToken(hash: String, successor: RefreshTokenRecord, successorSealed: String, now: Date) async throws -> Bool {
        try await base.rotateRefreshToken(hash: hash, successor: successor, successorSealed: successorSealed, now: now)
    }
    func deleteExpired(now: Date, refreshGrace: TimeInterval, retention: TimeInterval) async throws -> CleanupCounts {
        try await base.deleteExpired(now: now, refreshGrace: refreshGrace, retention: retention)
    }

    func insertSession(_ session: SessionRecord) async throws { try await base.insertSession(session) }
    func liveSession(idHash: String) async throws -> SessionRecord? { try await base.liveSession(idHash: idHash) }
    func liveSessions() async throws -> [SessionRecord] { try await base.liveSessions() }
    func updateSessionState(idHash: String, initialized: [UInt8]?, logLevel: String?, subscriptions: [String]) async throws {
        try await base.updateSessionState(idHash: idHash, initialized: initialized, logLevel: logLevel, subscriptions: subscriptions)
    }
    func endSession(idHash: String, reason: String, now: Date) async throws {
        try await base.endSession(idHash: idHash, reason: reason, now: now)
    }
    func endSessions(userID: Int64, clientID: String?, reason: String, now: Date) async throws {
        try await base.endSessions(userID: userID, clientID: clientID, reason: reason, now: now)
    }
    func latestInitialize(userID: Int64, clientID: String) async throws -> [UInt8]? {
        try await base.latestInitialize(userID: userID, clientID: clientID)
    }
}
