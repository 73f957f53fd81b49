/// The registry's bounds. Built from configuration; tests shorten them.
public struct SessionRegistryLimits: Sendable {
    public var idleTimeout: Duration
    public var maxLifetime: Duration
    public var maxPerUser: Int
    public var maxTotal: Int
    /// How long a new child may take to answer `initialize`. Only this first call is bounded:
    /// tool calls may legitimately run for a long time.
    public var initializeTimeout: Duration
    /// How long a replaced child may keep answering the requests it took before the swap.
    public var drain: Duration = .seconds(30)
    /// Requests one lease key (a session, a user's child) may have in flight: a client cannot
    /// pile unbounded work (and buffered output) onto one child.
    public var maxCallsPerChild = 64
    /// Bytes of side messages one call or stream may hold for a client that reads slower than
    /// the child writes (`BufferBound`); beyond it the call ends with an error or the stream closes.
    public var maxBufferedEventBytes = BufferBound.defaultLimit
    /// Child starts per user (`initialize`, a user child's first request): a client looping on
    /// `initialize` must not become a fork bomb. nil: off (the default here; the broker's
    /// configuration supplies its own, on).
    public var spawnRate: RateLimiter.Policy?

    public init(idleTimeout: Duration, maxLifetime: Duration, maxPerUser: Int, maxTotal: Int,
                initializeTimeout: Duration = .seconds(30)) {
        self.idleTimeout = idleTimeout
        self.maxLifetime = maxLifetime
        self.maxPerUser = maxPerUser
        self.maxTotal = maxTotal
        self.initializeTimeout = initializeTimeout
    }

    public init(_ settings: BrokerConfig.SessionLimits) {
        self.init(idleTimeout: settings.idleTimeout, maxLifetime: settings.maxLifetime,
                  maxPerUser: settings.maxPerUser, maxTotal: settings.maxTotal)
        maxCallsPerChild = settings.maxCallsPerSession
        maxBufferedEventBytes = settings.maxBufferedEventBytes
        spawnRate = settings.spawnRate
    }

    /// Often enough that a session outlives its limit by at most a quarter of it.
    var reapInterval: Duration {
        min(max(min(idleTimeout, maxLifetime) / 4, .milliseconds(50)), .seconds(30))
    }
}
