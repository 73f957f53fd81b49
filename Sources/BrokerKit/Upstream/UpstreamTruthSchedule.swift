/// When the broker checks a user's Forgejo token against Forgejo itself (`GET /api/v1/user`):
/// the decisions of `UpstreamTruthProbe` as a plain state machine, so that coalescing and rate
/// limits are tested without a clock, a network or an actor. Each input returns the action the
/// probe must take; the probe reports back when a probe ends or a wake-up fires.
///
/// Rules (issue 16, "upstream truth"):
/// - A doubt (a failed call, a broker refresh) starts a probe at once unless one of the user's
///   probes started less than `doubtSpacing` ago; then it is coalesced into ONE probe at the end
///   of that window, never dropped, so a doubt is never left unchecked for longer than the
///   spacing. A doubt during a running probe is checked again after it (the running probe may
///   have asked Forgejo before whatever caused the doubt).
/// - A broker refresh is a doubt at most once per `refreshGrantSpacing` per user.
/// - Users with live children are probed when `periodicInterval` passed since their last probe
///   (or since they were first seen, plus a per-user offset within `periodicSpread` of the
///   interval, so that users first seen together, as after a restart, do not all probe in the
///   same tick, every interval), whatever caused it.
public struct UpstreamTruthSchedule: Sendable {
    public struct Settings: Sendable, Equatable {
        /// Least time between two probes of one user caused by doubts.
        public var doubtSpacing: Duration
        /// Least time between two broker refreshes of one user that cause a probe.
        public var refreshGrantSpacing: Duration
        /// A user with live children is probed when this passed since their last probe.
        public var periodicInterval: Duration
        /// The fraction of `periodicInterval` (0 to 1) over which users' first periodic probes
        /// are spread by a hash of their id; 0 probes everyone one interval after first seen.
        public var periodicSpread: Double

        public init(doubtSpacing: Duration = .seconds(2), refreshGrantSpacing: Duration = .seconds(180),
                    periodicInterval: Duration = Setting.upstreamProbeInterval.defaultDuration, periodicSpread: Double = 0.5) {
            self.doubtSpacing = doubtSpacing
            self.refreshGrantSpacing = refreshGrantSpacing
            self.periodicInterval = periodicInterval
            self.periodicSpread = min(max(periodicSpread, 0), 1)
        }
    }

    /// Why a probe runs: a label in logs and metrics.
    public enum Cause: String, Sendable, Equatable {
        /// A child's call ended in an error result or a JSON-RPC error.
        case failedCall = "failed_call"
        /// A client redeemed a broker refresh token.
        case brokerRefresh = "broker_refresh"
        /// The user has live children and was not probed for `periodicInterval`.
        case periodic
    }

    public enum Action: Sendable, Equatable {
        /// Probe the user now; report `probeEnded` when done.
        case probe(userID: Int64, cause: Cause)
        /// Report `wakeUp` for the user at this instant (a coalesced doubt waits for it).
        case wake(userID: Int64, at: ContinuousClock.Instant)
    }

    struct UserState: Sendable, Equatable {
        var lastProbe: ContinuousClock.Instant?
        var probing = false
        /// A doubt not checked yet (the first cause that arrived).
        var pending: Cause?
        /// The wake-up armed for `pending`, if any.
        var wakeAt: ContinuousClock.Instant?
        var lastRefreshDoubt: ContinuousClock.Instant?
        /// When the periodic rule first saw the user with live children, plus their periodic offset.
        var trackedSince: ContinuousClock.Instant?
    }

    public let settings: Settings
    private(set) var users: [Int64: UserState] = [:]

    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    /// Something suggests the user's token may be dead.
    public mutating func doubt(userID: Int64, cause: Cause, now: ContinuousClock.Instant) -> Action? {
        var state = users[userID] ?? UserState()
        defer { users[userID] = state }
        if cause == .brokerRefresh {
            if let last = state.lastRefreshDoubt, now < last + settings.refreshGrantSpacing { return nil }
            state.lastRefreshDoubt = now
        }
        state.pending = state.pending ?? cause
        return next(userID: userID, state: &state, now: now)
    }

    /// The user's probe finished (whatever it found).
    public mutating func probeEnded(userID: Int64, now: ContinuousClock.Instant) -> Action? {
        guard var state = users[userID] else { return nil }
        defer { users[userID] = state }
        state.probing = false
        return next(userID: userID, state: &state, now: now)
    }

    /// A wake-up armed by `.wake` fired.
    public mutating func wakeUp(userID: Int64, now: ContinuousClock.Instant) -> Action? {
        guard var state = users[userID] else { return nil }
        defer { users[userID] = state }
        state.wakeAt = nil
        return next(userID: userID, state: &state, now: now)
    }

    /// The periodic rule over the users that have live children right now. Users neither
    /// tracked nor in the middle of anything are forgotten (their rate limits have run out).
    public mutating func periodic(tracked: Set<Int64>, now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        for userID in tracked.union(users.keys) {
            var state = users[userID] ?? UserState()
            guard tracked.contains(userID) else {
                users[userID] = isSettled(state, now: now) ? nil : state
                continue
            }
            let since = state.trackedSince ?? now + periodicOffset(userID: userID)
            state.trackedSince = since
            if !state.probing, state.wakeAt == nil, state.pending == nil,
                now >= max(state.lastProbe ?? since, since) + settings.periodicInterval
            {
                state.lastProbe = now
                state.probing = true
                actions.append(.probe(userID: userID, cause: .periodic))
            }
            users[userID] = state
        }
        return actions.sorted { $0.userID < $1.userID }
    }

    /// How much later than one interval after first seen the user's first periodic probe is:
    /// a fixed point within `periodicSpread` of the interval, from a mix of the user id (the
    /// same in every run, unlike `Hasher`, so tests and restarts see the same offsets). Later
    /// probes keep the offset, as each interval counts from the user's previous probe.
    func periodicOffset(userID: Int64) -> Duration {
        let buckets: UInt64 = 1024
        // SplitMix64's finaliser: neighbouring ids land far apart.
        var mixed = UInt64(bitPattern: userID) &+ 0x9E37_79B9_7F4A_7C15
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        mixed ^= mixed >> 31
        return settings.periodicInterval * settings.periodicSpread / Int(buckets) * Int(mixed % buckets)
    }

    /// The user's grant turned out dead: nothing is left to check until they sign in again.
    public mutating func forget(userID: Int64) {
        users[userID] = nil
    }

    /// Starts the pending doubt's probe if the spacing allows, or arms one wake-up for it.
    private func next(userID: Int64, state: inout UserState, now: ContinuousClock.Instant) -> Action? {
        guard let cause = state.pending, !state.probing, state.wakeAt == nil else { return nil }
        if let last = state.lastProbe, now < last + settings.doubtSpacing {
            state.wakeAt = last + settings.doubtSpacing
            return .wake(userID: userID, at: last + settings.doubtSpacing)
        }
        state.pending = nil
        state.lastProbe = now
        state.probing = true
        return .probe(userID: userID, cause: cause)
    }

    private func isSettled(_ state: UserState, now: ContinuousClock.Instant) -> Bool {
        guard !state.probing, state.pending == nil, state.wakeAt == nil else { return false }
        if let last = state.lastProbe, now < last + settings.doubtSpacing { return false }
        if let last = state.lastRefreshDoubt, now < last + settings.refreshGrantSpacing { return false }
        return true
    }
}

extension UpstreamTruthSchedule.Action {
    var userID: Int64 {
        switch self {
        case .probe(let userID, _), .wake(let userID, _): userID
        }
    }
}
