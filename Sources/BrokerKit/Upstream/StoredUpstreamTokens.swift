import Foundation

/// One version of a user's stored Forgejo token set, opened: everything the manager decides on.
struct StoredUpstreamTokens: Sendable {
    let userID: Int64
    let version: Int64
    let set: UpstreamTokenSet
    /// When the set was written. Every writer (login callback, refresh) stores right after
    /// Forgejo answered, so this is the issue time; with the expiry it gives the real lifetime
    /// Forgejo granted, whatever `ACCESS_TOKEN_EXPIRATION_TIME` is.
    let issuedAt: Date
    let expiresAt: Date
    /// The thresholds of this set's access token, from its real lifetime.
    let thresholds: UpstreamTokenThresholds

    /// Opens `record`. A set that does not open (wrong key, tampered row) means "sign in again"
    /// to the user (401 with the login challenge, never a server error), but it is not deleted,
    /// because an operator who fixes the key gets every user back.
    init(record: UpstreamTokenRecord, box: SecretBox, policy: UpstreamRefreshPolicy) throws(UpstreamTokenFailure) {
        do {
            set = try UpstreamTokenSet.open(record.sealed, with: box, userID: record.userID)
        } catch {
            throw .loginRequired(reason: "upstream_tokens_unreadable")
        }
        userID = record.userID
        version = record.version
        issuedAt = record.updatedAt
        expiresAt = record.accessExpiresAt ?? set.accessExpiresAt
            ?? record.updatedAt.addingTimeInterval(policy.unknownExpiryLifetime.timeInterval)
        thresholds = UpstreamTokenThresholds(lifetime: expiresAt.timeIntervalSince(issuedAt), policy: policy)
    }

    var accessToken: UpstreamAccessToken {
        UpstreamAccessToken(userID: userID, token: set.accessToken, expiresAt: expiresAt, generation: version, thresholds: thresholds)
    }

    func remaining(at now: Date) -> TimeInterval {
        expiresAt.timeIntervalSince(now)
    }

    func isExpired(at now: Date) -> Bool {
        remaining(at: now) <= 0
    }

    /// When the scheduler refreshes this set: at `refreshFraction` of its real lifetime, however
    /// short (a fixed floor would come after the expiry of a short token; the per-user rate
    /// limit is what keeps absurd lifetimes from driving a loop).
    func refreshDue(policy: UpstreamRefreshPolicy) -> Date {
        issuedAt.addingTimeInterval(thresholds.refreshAfter)
    }
}
