import Foundation
import Logging
import ServiceLifecycle

/// The sign-in policy again at every refresh of a user's Forgejo token set (issue 18): a user
/// who left the allowed organisations, or was taken off the list, loses their grants, sessions
/// and children as soon as the broker next refreshes their Forgejo token, not only at their next
/// login. It listens to the token manager's events instead of sitting inside the refresh, so a
/// slow membership check never holds up a token other sessions wait for.
///
/// Sessions are ended through `endUser` (wired to `ChildHost.endUser` by the assembly), so this
/// folder does not depend on Sessions, which depends on it.
///
/// Forgejo being unreachable keeps the user (the refresh itself just worked, and the next one
/// checks again); a 403 on the membership lists means the grant lacks the scope, and the check
/// fails closed.
public actor SignInEnforcer: Service {
    private let check: SignInCheck
    private let manager: UpstreamTokenManager
    private let bearer: BearerAuthenticator
    /// Ends the user's sessions and children; returns how many of each ended.
    private let endUser: @Sendable (Int64) async -> (sessions: Int, userChildren: Int)
    /// Where the revocation is recorded (`sign_in_policy`, one record for all of the user's
    /// grants). The grants are revoked together here, not one by one through the revocation
    /// observer, which would end each client's sessions before `endUser` counts them.
    private let audit: AuditTrail?
    private let logger: Logger
    /// The check running per user; a newer token's check replaces it.
    private var running: [Int64: Task<Void, Never>] = [:]

    /// Nil when the policy is open: nothing to enforce, no task listening.
    public init?(config: BrokerConfig, forgejo: ForgejoClient, manager: UpstreamTokenManager, bearer: BearerAuthenticator,
                 audit: AuditTrail? = nil, logger: Logger,
                 endUser: @escaping @Sendable (Int64) async -> (sessions: Int, userChildren: Int)) {
        guard !config.access.signIn.isOpen else { return nil }
        check = SignInCheck(policy: config.access.signIn, forgejo: forgejo)
        self.manager = manager
        self.bearer = bearer
        self.endUser = endUser
        self.audit = audit
        self.logger = logger
    }

    public func run() async throws {
        let events = await manager.events()
        await cancelWhenGracefulShutdown {
            for await event in events {
                guard case .refreshed(let userID, let token) = event else { continue }
                await self.start(userID: userID, accessToken: token.token)
            }
        }
        for task in running.values { task.cancel() }
        running.removeAll()
    }

    private func start(userID: Int64, accessToken: String) {
        running[userID]?.cancel()
        let task = Task { await self.enforce(userID: userID, accessToken: accessToken) }
        running[userID] = task
        Task {
            await task.value
            self.finished(userID: userID, task: task)
        }
    }

    /// Decides with the fresh token; on a refusal revokes the user's grants (the next request
    /// with any of their broker tokens is 401) and ends their sessions and children.
    func enforce(userID: Int64, accessToken: String) async {
        let decision: SignInCheck.Decision
        let login: String
        do {
            login = try await check.forgejo.currentUser(accessToken: accessToken).login
            decision = await check.decide(login: login, accessToken: accessToken)
        } catch {
            SignInCheck.log(.unavailable(error), logger: logger, userID: userID, login: "?", when: "refresh")
            return
        }
        guard !Task.isCancelled else { return }
        SignInCheck.log(decision, logger: logger, userID: userID, login: login, when: "refresh")
        switch decision {
        case .admitted, .unavailable:
            break
        case .refused, .missingScope:
            do {
                let revoked = try await bearer.revokeUser(userID: userID)
                if !revoked.isEmpty {
                    audit?.record(AuditRecord(event: .revocation, user: login, client: nil, outcome: "ok", detail: "sign_in_policy"))
                }
            } catch {
                logger.error("revoking a refused user's grants failed", metadata: ["user_id": "\(userID)"])
            }
            let ended = await endUser(userID)
            logger.notice("sessions ended: the sign-in policy no longer admits the user", metadata: [
                "user_id": "\(userID)", "sessions": "\(ended.sessions)", "user_children": "\(ended.userChildren)",
            ])
        }
    }

    /// Drops the finished check's handle unless a newer one took its place.
    private func finished(userID: Int64, task: Task<Void, Never>?) {
        if let task, running[userID] == task { running[userID] = nil }
    }
}
