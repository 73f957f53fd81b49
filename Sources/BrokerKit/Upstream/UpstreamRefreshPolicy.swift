import Foundation

/// When and how persistently the token manager refreshes. Defaults suit a stock Forgejo (1 h
/// access tokens); tests shrink the delays.
public struct UpstreamRefreshPolicy: Sendable {
    /// Scheduled refreshes happen at this fraction of the access token's lifetime, leaving the
    /// rest as headroom for a Forgejo outage and for swapping children. Clamped to 0.1...0.95.
    public var refreshFraction: Double
    /// The per-user rate limit: least time between two Forgejo refreshes of one user by this
    /// process, whatever asks for them, so a Forgejo answering absurdly short lifetimes cannot
    /// drive a refresh loop. At most a quarter of the token's lifetime
    /// (`UpstreamTokenThresholds.minimumRefreshSpacing`), so even a short token is refreshed
    /// before it expires.
    public var minimumRefreshInterval: Duration
    /// Lifetime used only when neither Forgejo's answer nor the store carries an expiry
    /// (Forgejo always sends `expires_in`; this keeps a broken proxy from meaning "forever").
    public var unknownExpiryLifetime: Duration
    /// Forgejo calls per refresh when the answers are transient.
    public var attempts: Int
    /// First delay between those calls; doubles per attempt, with jitter.
    public var retryBaseDelay: Duration
    /// First delay before the scheduler retries a refresh that ended transiently; doubles per
    /// consecutive failure, with jitter.
    public var rescheduleBaseDelay: Duration
    /// Cap for both backoffs.
    public var maximumRetryDelay: Duration
    /// Re-reads of the store after Forgejo said "token was already used": another broker process
    /// may have rotated the token and not yet written its answer, or a login's code exchange
    /// retired it and the login has yet to store its set (after one more Forgejo call, bounded
    /// by the authorization server's upstream timeout), so waits that together outlast that call
    /// separate "someone else refreshed" from "the token is lost" (the user would otherwise
    /// lose every broker grant moments before the login's set arrives).
    public var reuseRecheckDelays: [Duration]

    public init(
        refreshFraction: Double = 0.8, minimumRefreshInterval: Duration = .seconds(5),
        unknownExpiryLifetime: Duration = .seconds(300), attempts: Int = 3, retryBaseDelay: Duration = .milliseconds(250),
        rescheduleBaseDelay: Duration = .seconds(5), maximumRetryDelay: Duration = .seconds(60),
        reuseRecheckDelays: [Duration] = [.milliseconds(100), .milliseconds(400), .seconds(1), .seconds(3), .seconds(7)]
    ) {
        self.refreshFraction = min(max(refreshFraction, 0.1), 0.95)
        self.minimumRefreshInterval = minimumRefreshInterval
        self.unknownExpiryLifetime = unknownExpiryLifetime
        self.attempts = max(1, attempts)
        self.retryBaseDelay = retryBaseDelay
        self.rescheduleBaseDelay = rescheduleBaseDelay
        self.maximumRetryDelay = maximumRetryDelay
        self.reuseRecheckDelays = reuseRecheckDelays
    }

    /// Delay before Forgejo call `attempt + 1` of one refresh.
    func retryDelay(afterAttempt attempt: Int) -> Duration {
        Self.backoff(base: retryBaseDelay, failures: attempt, cap: maximumRetryDelay)
    }

    /// Delay before the next scheduled attempt after `failures` consecutive failed refreshes.
    func rescheduleDelay(afterFailures failures: Int) -> Duration {
        Self.backoff(base: rescheduleBaseDelay, failures: failures, cap: maximumRetryDelay)
    }

    /// Exponential backoff with "equal jitter" (half fixed, half random), so broker processes
    /// that failed together do not retry in lockstep while the wait still grows.
    static func backoff(base: Duration, failures: Int, cap: Duration) -> Duration {
        let exponent = Double(min(max(failures - 1, 0), 30))
        let ceiling = min(base.timeInterval * pow(2, exponent), cap.timeInterval)
        return .seconds(ceiling / 2 + Double.random(in: 0...(ceiling / 2)))
    }
}

extension Duration {
    /// Seconds as a floating-point value, for date arithmetic.
    var timeInterval: TimeInterval {
        let (whole, attoseconds) = components
        return TimeInterval(whole) + TimeInterval(attoseconds) / 1e18
    }
}
