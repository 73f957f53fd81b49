import Foundation

/// One refresh of one user's Forgejo token set, from reading the store to writing the answer.
/// Knows nothing about single-flighting, events or scheduling (the manager's job), so each
/// decision below is about a single stored version.
///
/// Ordering rules (forgejo-notes A7, D3): the new set is written with one compare-and-swap
/// before anyone sees the new access token; a lost swap or an "already used" answer means
/// another writer was faster, so the store is re-read and its set adopted; failures never
/// overwrite the stored set.
struct UpstreamRefresher: Sendable {
    let store: any BrokerStore
    let forgejo: ForgejoClient
    let box: SecretBox
    let clock: any UpstreamClock
    let policy: UpstreamRefreshPolicy

    /// The stored set, or nil when the user has none.
    func load(userID: Int64) async throws(UpstreamTokenFailure) -> StoredUpstreamTokens? {
        let record: UpstreamTokenRecord?
        do {
            record = try await store.upstreamTokens(userID: userID)
        } catch {
            throw .unavailable(reason: "store_unavailable")
        }
        guard let record else { return nil }
        return try StoredUpstreamTokens(record: record, box: box, policy: policy)
    }

    /// Under the store's per-user refresh lock: another broker process on the same database
    /// refreshing this user finishes first, and this one then finds its set and adopts it.
    func refresh(userID: Int64, trigger: UpstreamRefreshTrigger) async -> UpstreamRefreshOutcome {
        do {
            return try await store.withUpstreamRefreshLock(userID: userID) { await refreshLocked(userID: userID, trigger: trigger) }
        } catch {
            return .transient(reason: "store_unavailable", current: nil)
        }
    }

    private func refreshLocked(userID: Int64, trigger: UpstreamRefreshTrigger) async -> UpstreamRefreshOutcome {
        var attempt = 0
        while true {
            attempt += 1
            let current: StoredUpstreamTokens
            do {
                guard let loaded = try await load(userID: userID) else { return .final(reason: "upstream_tokens_missing", version: nil) }
                current = loaded
            } catch {
                if case .loginRequired(let reason) = error { return .unusable(reason: reason) }
                return .transient(reason: error.reasonCode, current: nil)
            }
            if trigger.isSatisfied(by: current, now: clock.now(), policy: policy) { return .adopted(current) }
            guard let refreshToken = current.set.refreshToken else {
                return .final(reason: "upstream_refresh_token_missing", version: current.version)
            }
            let response: UpstreamTokenResponse
            do {
                response = try await forgejo.refresh(refreshToken: refreshToken)
            } catch {
                switch error {
                case .transient(let reason):
                    guard attempt < policy.attempts, !Task.isCancelled else {
                        return .transient(reason: reason.reasonCode, current: current)
                    }
                    try? await Task.sleep(for: policy.retryDelay(afterAttempt: attempt))
                    continue
                case .misconfigured(let reason):
                    return .misconfigured(reason: reason.reasonCode, current: current)
                case .refreshTokenAlreadyUsed:
                    return await adoptNewer(than: current, finalReason: error.reasonCode, recheckDelays: policy.reuseRecheckDelays)
                case .loginRequired(let reason):
                    // A login that raced this refresh may have replaced the grant: one re-read decides.
                    return await adoptNewer(than: current, finalReason: reason.rawValue, recheckDelays: [])
                }
            }
            return await persist(response, keeping: refreshToken, over: current)
        }
    }

    /// Seals and swaps in Forgejo's answer. A missing refresh token keeps the one just used
    /// (Forgejo without rotation answers so); a missing expiry gets the policy's fallback.
    private func persist(
        _ response: UpstreamTokenResponse, keeping refreshToken: String, over current: StoredUpstreamTokens
    ) async -> UpstreamRefreshOutcome {
        let now = clock.now()
        let lifetime = response.expiresIn.map(TimeInterval.init) ?? policy.unknownExpiryLifetime.timeInterval
        let set = UpstreamTokenSet(
            accessToken: response.accessToken, refreshToken: response.refreshToken ?? refreshToken,
            accessExpiresAt: now.addingTimeInterval(lifetime), loginExchangedAt: current.set.loginExchangedAt)
        let sealed = set.seal(with: box, userID: current.userID)
        let version: Int64?
        do {
            version = try await store.swapUpstreamTokens(
                userID: current.userID, expectedVersion: current.version, sealed: sealed,
                accessExpiresAt: set.accessExpiresAt, now: now)
        } catch {
            // Forgejo has rotated, but the answer cannot be kept: the stored access token stays
            // usable until it expires; the next refresh will find its refresh token used.
            return .transient(reason: "store_write_failed", current: current)
        }
        guard let version else {
            return await adoptNewer(than: current, finalReason: "upstream_tokens_missing", recheckDelays: [])
        }
        // Read back rather than rebuilt, so issue time and expiry are exactly what others see.
        do {
            if let written = try await load(userID: current.userID), written.version == version { return .refreshed(written) }
        } catch {
            return .transient(reason: error.reasonCode, current: current)
        }
        return await adoptNewer(than: current, finalReason: "upstream_tokens_missing", recheckDelays: [])
    }

    /// Re-reads the store after Forgejo (or the swap) said someone else was faster: a newer
    /// version is adopted; none after the last re-check makes the failure final.
    private func adoptNewer(
        than current: StoredUpstreamTokens, finalReason: String, recheckDelays: [Duration]
    ) async -> UpstreamRefreshOutcome {
        for delay in [Duration.zero] + recheckDelays {
            if delay > .zero { try? await Task.sleep(for: delay) }
            do {
                guard let stored = try await load(userID: current.userID) else { return .final(reason: finalReason, version: nil) }
                if stored.version != current.version { return .adopted(stored) }
            } catch {
                return .transient(reason: error.reasonCode, current: current)
            }
        }
        return .final(reason: finalReason, version: current.version)
    }
}
