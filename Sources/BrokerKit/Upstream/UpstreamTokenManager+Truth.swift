/// What one check of a user's Forgejo token against Forgejo found and did.
public enum UpstreamTruthVerdict: Sendable, Equatable {
    /// Forgejo accepted the token: nothing to do.
    case valid
    /// Forgejo rejected the token, and a refresh (or a newer stored set) replaced it: the
    /// user's children are swapped through the manager's `.refreshed` event.
    case replaced
    /// Forgejo rejected the token and the grant behind it: the user's set is forgotten, their
    /// broker grants revoked, and `.dead` ends their children.
    case dead(reason: String)
    /// Forgejo could not tell (unreachable, 5xx, a refresh that failed for now): no action,
    /// since Forgejo being down is not a revocation.
    case unknown(reason: String)
    /// Nothing to check: no stored set, or a refresh already running replaces the token anyway.
    case skipped(reason: String)

    /// Label value of `fjmcp_upstream_probes_total{verdict}`.
    var label: String {
        switch self {
        case .valid: "valid"
        case .replaced: "replaced"
        case .dead: "dead"
        case .unknown: "unknown"
        case .skipped: "skipped"
        }
    }

    var reason: String? {
        switch self {
        case .valid, .replaced: nil
        case .dead(let reason), .unknown(let reason), .skipped(let reason): reason
        }
    }
}

/// Upstream truth: the manager asks Forgejo whether the stored access token still works, so a
/// revoked grant or a token Forgejo invalidated early is noticed within seconds of a failing
/// call instead of at the next scheduled refresh. When to ask is `UpstreamTruthProbe`'s job.
extension UpstreamTokenManager {
    /// Checks the stored access token with `GET /api/v1/user`. A 401 refreshes at once
    /// (single-flight and compare-and-swap like every refresh, adopting a newer set); the
    /// refresh's verdict is the answer. Any other failure changes nothing.
    ///
    /// A valid stored token after a failed call may still leave children on a dead one: a login
    /// stores its set without moving the children (their access token stays good at Forgejo,
    /// which retires only the refresh token on a code exchange), unless the user deleted and
    /// re-created the grant in between. So the stored set is adopted then: announced when the
    /// children were told of an older one (or of none), which swaps only children older than it.
    public func verify(userID: Int64, cause: UpstreamTruthSchedule.Cause = .periodic) async -> UpstreamTruthVerdict {
        guard !shuttingDown else { return .skipped(reason: "shutting_down") }
        guard inFlight[userID] == nil else { return .skipped(reason: "refresh_in_flight") }
        let stored: StoredUpstreamTokens?
        do {
            stored = try await refresher.load(userID: userID)
        } catch {
            return .unknown(reason: error.reasonCode)
        }
        guard let stored else { return .skipped(reason: "no_token_set") }
        do {
            _ = try await refresher.forgejo.currentUser(accessToken: stored.set.accessToken)
            if cause == .failedCall { _ = await conclude(.adopted(stored), userID: userID) }
            return .valid
        } catch .loginRequired(.accessTokenRejected) {
            // The token Forgejo rejected is this version's: a newer one (a refresh or login
            // meanwhile) is adopted, otherwise the set is rotated now.
            switch await runRefresh(userID: userID, trigger: .replacing(generation: stored.version)) {
            case .refreshed, .adopted: return .replaced
            case .final(let reason, _): return .dead(reason: reason)
            // An unreadable set keeps its grants (restoring the key brings the user back).
            case .transient(let reason, _), .misconfigured(let reason, _), .unusable(let reason): return .unknown(reason: reason)
            }
        } catch {
            return .unknown(reason: error.reasonCode)
        }
    }

    /// Users with live children (tracked by their children), for the periodic probe.
    public var trackedUserIDs: Set<Int64> {
        Set(trackCounts.keys)
    }
}
