import Foundation

/// A per-key token bucket (keyed by client address) for the endpoints an attacker can hammer
/// without credentials. In memory and per process: it only has to blunt floods, not to be exact.
public actor RateLimiter {
    public struct Policy: Sendable {
        /// Requests allowed in a burst.
        public var burst: Double
        /// Tokens regained per second.
        public var perSecond: Double

        public init(burst: Double, perSecond: Double) {
            self.burst = burst
            self.perSecond = perSecond
        }
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let policy: Policy
    private let maxKeys: Int
    private var buckets: [String: Bucket] = [:]

    public init(policy: Policy, maxKeys: Int = 10_000) {
        self.policy = policy
        self.maxKeys = maxKeys
    }

    /// Takes one token; false when the key is over its rate.
    public func allow(_ key: String, now: ContinuousClock.Instant = .now) -> Bool {
        var bucket = buckets[key] ?? Bucket(tokens: policy.burst, updated: now)
        let elapsed = now - bucket.updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        bucket.tokens = min(policy.burst, bucket.tokens + seconds * policy.perSecond)
        bucket.updated = now
        guard bucket.tokens >= 1 else {
            buckets[key] = bucket
            return false
        }
        bucket.tokens -= 1
        if buckets[key] == nil, buckets.count >= maxKeys { prune(now: now) }
        buckets[key] = bucket
        return true
    }

    /// Drops buckets that have refilled (they behave like new ones); if every bucket is busy,
    /// forgets them all rather than growing without bound.
    private func prune(now: ContinuousClock.Instant) {
        let refill = Duration.seconds(policy.burst / max(policy.perSecond, 0.001))
        buckets = buckets.filter { now - $0.value.updated < refill }
        if buckets.count >= maxKeys { buckets.removeAll() }
    }
}
