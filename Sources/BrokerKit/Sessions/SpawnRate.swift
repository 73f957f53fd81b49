import Metrics

/// Processes started per user: an `initialize` that needs a child, the first request of a user's
/// shared child, a deferred or ended session's child on its next request — everything that goes
/// through `ChildHost.start`. A client looping on any of them would otherwise make the broker
/// fork as fast as it can ask. Swaps onto a new Forgejo token are the broker's own doing and
/// are not counted; an `initialize` answered without a spawn costs no process and is not either.
extension ChildHost {
    /// Takes one start from the user's bucket, or throws `.rateLimited` (HTTP 429, `Retry-After`).
    func admitStart(userID: Int64) async throws(SessionError) {
        guard case .limited(let retryAfter) = await spawnLimiter.check(String(userID)) else { return }
        Counter(label: "fjmcp_child_starts_rate_limited_total").increment()
        // Debug: a client hammering the limit must not flood the log (the counter counts each).
        logger.debug("child start refused: this user is over the spawn rate", metadata: [
            "user_id": "\(userID)", "retry_after_s": "\(retryAfter)",
        ])
        throw .rateLimited(retryAfter: retryAfter)
    }
}
