/// A token bucket for log lines: a chatty or hostile child must not be able to flood the
/// broker's log, but a short burst (e.g. a start-up banner) should pass untouched.
public struct LogRateLimit: Sendable, Equatable {
    public var burst: Int
    public var perSecond: Double

    public init(burst: Int, perSecond: Double) {
        self.burst = burst
        self.perSecond = perSecond
    }
}

struct LogRateLimiter {
    let limit: LogRateLimit
    private var tokens: Double
    private var lastRefill: ContinuousClock.Instant
    private var suppressed = 0

    init(_ limit: LogRateLimit, now: ContinuousClock.Instant = .now) {
        self.limit = limit
        tokens = Double(limit.burst)
        lastRefill = now
    }

    enum Decision: Equatable {
        /// Log it; `suppressedBefore` lines were dropped since the last logged one.
        case log(suppressedBefore: Int)
        case drop
    }

    mutating func admit(now: ContinuousClock.Instant = .now) -> Decision {
        let elapsed = now - lastRefill
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(Double(limit.burst), tokens + seconds * limit.perSecond)
        lastRefill = now
        guard tokens >= 1 else {
            suppressed += 1
            return .drop
        }
        tokens -= 1
        defer { suppressed = 0 }
        return .log(suppressedBefore: suppressed)
    }
}
