import Foundation

/// Per-key token buckets for the endpoints anyone can hammer. In memory and per process: it
/// only has to blunt floods, not to be exact. Keys are per client address (IPv4 address or IPv6
/// /64, ``ClientAddress/rateLimitKey(_:)``) for the browser endpoints and registration, per
/// client id for token and revocation.
///
/// At most `maxKeys` buckets are kept; beyond that the least recently used bucket is forgotten
/// (the one most likely to have refilled anyway), one at a time — never all at once, which
/// would hand a key rotator a fresh burst for everyone.
public actor RateLimiter {
    /// A bucket of `burst` tokens, refilled at `perSecond`. Written `BURST/PERIOD` in settings
    /// (`20/1m`: up to 20 at once, refilling 20 per minute), or `off`.
    public struct Policy: Sendable, Equatable {
        /// Requests allowed in a burst.
        public var burst: Double
        /// Tokens regained per second.
        public var perSecond: Double

        public init(burst: Double, perSecond: Double) {
            self.burst = burst
            self.perSecond = perSecond
        }

        /// Parses `BURST/PERIOD` (`30/1m`, `20/40s`); nil for anything else.
        public init?(configValue text: String) {
            let parts = text.split(separator: "/", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let burst = Int(parts[0]), (1...1_000_000).contains(burst),
                  let period = Duration(configValue: parts[1]), period > .zero
            else { return nil }
            let seconds = Double(period.components.seconds) + Double(period.components.attoseconds) / 1e18
            self.init(burst: Double(burst), perSecond: Double(burst) / seconds)
        }
    }

    public enum Decision: Sendable, Equatable {
        case allowed
        /// Over the rate; a token will be back in `retryAfter` whole seconds.
        case limited(retryAfter: Int)
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    /// nil: no limit (switched off in the configuration).
    private let policy: Policy?
    private var buckets: LRUCache<String, Bucket>

    public init(policy: Policy?, maxKeys: Int = 10_000) {
        self.policy = policy
        buckets = LRUCache(capacity: maxKeys)
    }

    /// Takes one token from `key`'s bucket.
    public func check(_ key: String, now: ContinuousClock.Instant = .now) -> Decision {
        guard let policy else { return .allowed }
        var bucket = buckets.value(forKey: key) ?? Bucket(tokens: policy.burst, updated: now)
        let elapsed = now - bucket.updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        bucket.tokens = min(policy.burst, bucket.tokens + max(seconds, 0) * policy.perSecond)
        bucket.updated = now
        let decision: Decision
        if bucket.tokens >= 1 {
            bucket.tokens -= 1
            decision = .allowed
        } else {
            decision = .limited(retryAfter: max(1, Int(((1 - bucket.tokens) / policy.perSecond).rounded(.up))))
        }
        buckets.set(bucket, forKey: key)
        return decision
    }

    /// Buckets currently remembered.
    public var keyCount: Int { buckets.count }
}
