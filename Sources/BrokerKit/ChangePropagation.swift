import Logging

/// Applies other broker processes' changes here as if they had happened here: for a revocation
/// the bearer cache forgets the tokens at once (else they would keep working for up to its TTL)
/// and the child host ends the sessions, listen streams, parked calls and children it covers; a
/// rotated Forgejo token set is adopted, which swaps the user's children.
struct PropagatedChanges: StoreChangeConsumer {
    let bearer: BearerAuthenticator
    let host: ChildHost
    let tokenManager: UpstreamTokenManager
    let logger: Logger

    /// The cache is dropped inline; ending sessions and children runs in its own task, because
    /// it waits for the children's stop grace and the next notification (another revocation,
    /// whose tokens must stop working within the documented bound) must not wait behind it.
    func apply(_ change: StoreChange) async {
        switch change {
        case .grantRevoked(let userID, let clientID):
            bearer.invalidate(userID: userID, clientID: clientID)
            Task { [host, logger] in
                await host.grantRevoked(userID: userID, clientID: clientID)
                logger.info("grant revoked by another broker", metadata: ["user_id": "\(userID)", "client_id": .string(clientID)])
            }
        case .userRevoked(let userID):
            bearer.invalidate(userID: userID)
            Task { [host, logger] in
                let ended = await host.endUser(userID, reason: .userSessionsEnded)
                logger.info("user revoked by another broker", metadata: [
                    "user_id": "\(userID)", "sessions": "\(ended.sessions)", "user_children": "\(ended.userChildren)",
                ])
            }
        case .upstreamTokensChanged(let userID, let version):
            await tokenManager.adoptStoredSet(userID: userID, version: version)
        }
    }

    /// Revocations missed while not listening are in the store: dropping the cache makes the
    /// next request of every token read them. A revoked user's open listen stream is not found
    /// this way; it ends at its next request or its idle timeout.
    func resynchronize() async {
        bearer.invalidateAll()
    }
}

/// A grant revoked here is announced to the other broker processes first (the revocation is
/// committed; ending the local children can take their stop grace), then the local observer.
struct PublishedRevocations: GrantRevocationObserver {
    let next: any GrantRevocationObserver
    let publisher: any StoreChangePublisher

    func grantRevoked(userID: Int64, clientID: String) async {
        await publisher.publish(.grantRevoked(userID: userID, clientID: clientID))
        await next.grantRevoked(userID: userID, clientID: clientID)
    }
}
