import Foundation

/// A Forgejo access token for one child, with its expiry so the session can tell how long the
/// child's credential lasts. Redacted, so no log line or test failure can carry the token.
public struct UpstreamCredential: Sendable, Equatable, CustomStringConvertible {
    public let token: String
    /// Nil when Forgejo did not say (the token is then assumed valid).
    public let expiresAt: Date?
    /// The version of the stored token set, when the provider knows it: a session swaps its
    /// child only for a newer generation, so a repeated or stale event is ignored.
    public let generation: Int64?
    /// Thresholds derived from the token's real lifetime, when the provider knows it: e.g.
    /// `retirementMargin`, how long before `expiresAt` a child running on it should be replaced.
    public let thresholds: UpstreamTokenThresholds?

    public init(token: String, expiresAt: Date?, generation: Int64? = nil, thresholds: UpstreamTokenThresholds? = nil) {
        self.token = token
        self.expiresAt = expiresAt
        self.generation = generation
        self.thresholds = thresholds
    }

    public var description: String {
        "UpstreamCredential(expiresAt: \(expiresAt.map { "\($0)" } ?? "unknown"), generation: \(generation.map { "\($0)" } ?? "unknown"))"
    }
}

/// Why no Forgejo token could be had, in the two classes a client acts on differently.
public enum UpstreamCredentialError: Error, Sendable, Equatable {
    /// Final: the user must sign in again (HTTP 401 makes the client do that).
    case loginRequired(reason: String)
    /// Transient: try again later; never log the user out for this.
    case unavailable(reason: String)
}

/// The ONLY way sessions obtain a Forgejo token for a child. Refresh ahead of expiry belongs
/// behind this protocol (the token manager), so sessions never see token-set mechanics.
public protocol UpstreamTokenProvider: Sendable {
    func accessToken(userID: Int64) async throws(UpstreamCredentialError) -> UpstreamCredential
    /// A session of the user opened: a refreshing provider keeps the user's token fresh from
    /// now on (reference-counted, one call per session).
    func track(userID: Int64) async
    /// A session of the user ended; balances one `track`.
    func untrack(userID: Int64) async
}

extension UpstreamTokenProvider {
    /// A provider that never refreshes has nothing to schedule.
    public func track(userID: Int64) async {}
    public func untrack(userID: Int64) async {}
}

/// Reads the user's sealed token set from the store and opens it. It cannot refresh, so an
/// expired token is reported as "sign in again" rather than spawning a child that would be
/// rejected at start.
public struct StoreUpstreamTokenProvider: UpstreamTokenProvider {
    private let store: any BrokerStore
    private let box: SecretBox
    private let now: @Sendable () -> Date

    public init(store: any BrokerStore, masterKey: [UInt8], previousMasterKeys: [[UInt8]] = [],
                now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store
        self.box = SecretBox(masterKey: masterKey, purpose: UpstreamTokenSet.purpose, previousMasterKeys: previousMasterKeys)
        self.now = now
    }

    public func accessToken(userID: Int64) async throws(UpstreamCredentialError) -> UpstreamCredential {
        let record: UpstreamTokenRecord?
        do {
            record = try await store.upstreamTokens(userID: userID)
        } catch {
            throw .unavailable(reason: "store_unavailable")
        }
        guard let record else { throw .loginRequired(reason: "no_upstream_tokens") }
        let set: UpstreamTokenSet
        do {
            set = try UpstreamTokenSet.open(record.sealed, with: box, userID: userID)
        } catch {
            // The key changed (or the row was tampered with): sign in again, never a server error.
            throw .loginRequired(reason: "upstream_tokens_unreadable")
        }
        let expiresAt = record.accessExpiresAt ?? set.accessExpiresAt
        if let expiresAt, expiresAt <= now() { throw .loginRequired(reason: "upstream_token_expired") }
        return UpstreamCredential(token: set.accessToken, expiresAt: expiresAt)
    }
}
