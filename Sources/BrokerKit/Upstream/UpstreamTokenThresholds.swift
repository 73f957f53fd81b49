import Foundation

/// Every time threshold about one Forgejo access token, derived from the lifetime Forgejo
/// actually granted it (`ACCESS_TOKEN_EXPIRATION_TIME` may be an hour or a few seconds), each a
/// fraction of that lifetime capped by the constant that suits the stock one-hour token. With a
/// fixed constant instead, a lifetime at or below it makes every new child refresh, and every
/// refresh cancel the swap it caused: a refresh storm that never completes a swap.
///
/// The fractions nest, so no threshold can trigger another: a freshly issued token always
/// satisfies `minimumRemainingForNewChild`, and still does at the scheduled refresh point.
///
///     issue ──────────── refreshAfter (80 %) ──── expiry
///                         remaining 20 % ≥ new child 15 % ≥ retirement 5 %
public struct UpstreamTokenThresholds: Sendable, Equatable, CustomStringConvertible {
    /// Seconds between issue and expiry.
    public let lifetime: TimeInterval
    /// Seconds after issue at which the scheduler refreshes.
    public let refreshAfter: TimeInterval
    /// What a token must have left to be given to a new child (else it is refreshed first).
    public let minimumRemainingForNewChild: TimeInterval
    /// How long before expiry a child still running on the token should have been replaced.
    public let retirementMargin: TimeInterval
    /// Least time between two Forgejo refreshes of one user (the per-user rate limit).
    public let minimumRefreshSpacing: TimeInterval

    /// Fractions of the lifetime; see `UpstreamRefreshPolicy.refreshFraction` for the refresh point.
    static let newChildFraction = 0.15
    static let retirementFraction = 0.05
    static let spacingFraction = 0.25
    /// Cap of the retirement margin (the new-child cap is the caller's, the spacing cap the policy's).
    static let retirementCap: TimeInterval = 60

    /// - Parameter newChildCap: the most a new child ever demands (today's constant, 120 s).
    public init(lifetime: TimeInterval, policy: UpstreamRefreshPolicy, newChildCap: TimeInterval = 120) {
        let lifetime = max(0, lifetime)
        self.lifetime = lifetime
        refreshAfter = lifetime * policy.refreshFraction
        let headroom = lifetime - refreshAfter
        minimumRemainingForNewChild = min(max(0, newChildCap), lifetime * Self.newChildFraction, headroom)
        retirementMargin = min(Self.retirementCap, lifetime * Self.retirementFraction, minimumRemainingForNewChild)
        minimumRefreshSpacing = min(policy.minimumRefreshInterval.timeInterval, lifetime * Self.spacingFraction)
    }

    public var description: String {
        "UpstreamTokenThresholds(lifetime: \(lifetime)s, refreshAfter: \(refreshAfter)s, newChild: \(minimumRemainingForNewChild)s, "
            + "retirement: \(retirementMargin)s, spacing: \(minimumRefreshSpacing)s)"
    }
}
