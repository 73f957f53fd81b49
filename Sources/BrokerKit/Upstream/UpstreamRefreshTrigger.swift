import Foundation

/// Why a refresh was asked for, which is also when it turns out to be unnecessary: the refresh
/// re-reads the store first, and a set that already satisfies the trigger (another process or
/// a login wrote it meanwhile) is adopted without calling Forgejo.
enum UpstreamRefreshTrigger: Sendable {
    /// A caller needs a token with at least this much time left (a new child), capped by the
    /// token's own `minimumRemainingForNewChild`: a freshly issued token always satisfies it.
    case minimumRemaining(TimeInterval)
    /// The scheduler's refresh point was reached.
    case scheduled
    /// Explicit refresh; a stored generation newer than the given one is adopted. With nil the
    /// stored set is always refreshed.
    case replacing(generation: Int64?)

    func isSatisfied(by stored: StoredUpstreamTokens, now: Date, policy: UpstreamRefreshPolicy) -> Bool {
        switch self {
        case .minimumRemaining(let needed):
            stored.remaining(at: now) >= min(needed, stored.thresholds.minimumRemainingForNewChild)
        case .scheduled:
            stored.refreshDue(policy: policy) > now
        case .replacing(let generation):
            generation.map { stored.version > $0 } ?? false
        }
    }
}
