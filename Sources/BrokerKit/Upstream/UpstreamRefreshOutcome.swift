/// How one refresh ended, as the refresher reports it to the manager.
enum UpstreamRefreshOutcome: Sendable {
    /// This process rotated the token at Forgejo and stored the new set.
    case refreshed(StoredUpstreamTokens)
    /// The store already held a set that satisfies the trigger (written by another process, a
    /// login, or a concurrent refresh that won the compare-and-swap).
    case adopted(StoredUpstreamTokens)
    /// Forgejo or the store failed for now; `current` is the stored set, still usable while valid.
    case transient(reason: String, current: StoredUpstreamTokens?)
    /// The broker's own Forgejo setup is wrong (client secret rotated, ...): like transient for
    /// the user, but an operator must act.
    case misconfigured(reason: String, current: StoredUpstreamTokens?)
    /// The user's Forgejo authorization is gone for good, judged on the stored set `version`
    /// (nil: there was no set), so the cleanup leaves alone a set written since.
    case final(reason: String, version: Int64?)
    /// The stored set cannot be opened (the secret key changed without
    /// `FJMCP_SECRET_KEY_PREVIOUS`, or the row was tampered with): the user must sign in again,
    /// but the set and the broker grants are kept, so restoring the key brings everyone back.
    case unusable(reason: String)

    /// Label value of `fjmcp_upstream_refreshes_total{outcome}`.
    var label: String {
        switch self {
        case .refreshed: "success"
        case .adopted: "adopted"
        case .transient: "transient"
        case .misconfigured: "misconfigured"
        case .final: "final"
        case .unusable: "unusable"
        }
    }

    var reason: String? {
        switch self {
        case .refreshed, .adopted: nil
        case .transient(let reason, _), .misconfigured(let reason, _), .final(let reason, _), .unusable(let reason): reason
        }
    }

    /// The newest stored set this outcome knows of, if any.
    var stored: StoredUpstreamTokens? {
        switch self {
        case .refreshed(let stored), .adopted(let stored): stored
        case .transient(_, let current), .misconfigured(_, let current): current
        case .final, .unusable: nil
        }
    }
}
