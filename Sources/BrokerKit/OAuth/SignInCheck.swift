import Foundation
import Logging

/// Applies the ``SignInPolicy`` to a Forgejo user through the Forgejo API with that user's own
/// token: at login (before anything is stored) and after every refresh of their token set.
struct SignInCheck: Sendable {
    /// Pages read at most per list (2,500 organisations or teams at Forgejo's default page
    /// size); a user beyond that is judged on what was read, which can only refuse, never admit
    /// wrongly.
    static let maxPages = 50
    /// The page size asked for; Forgejo hands out at most `[api] MAX_RESPONSE_ITEMS` (default
    /// 50, may be set lower), so a shorter page does not by itself mean the list ended.
    static let pageSize = 50

    enum Decision: Sendable, Equatable {
        case admitted
        /// Forgejo says the user is in none of the listed places.
        case refused
        /// Forgejo answered 403 to a membership list: the grant lacks `scope`. Fails closed.
        case missingScope(String)
        /// Forgejo could not be asked (down, slow, token rejected).
        case unavailable(UpstreamError)
    }

    let policy: SignInPolicy
    let forgejo: ForgejoClient

    func decide(login: String, accessToken: String) async -> Decision {
        guard !policy.admitsByName(login) else { return .admitted }
        var memberships = ForgejoMemberships()
        do {
            if policy.needsOrganizations {
                memberships.organizations = try await names(path: "/api/v1/user/orgs", scope: "read:organization", accessToken: accessToken,
                                                            as: ForgejoOrganization.self) { $0.name }
            }
            if policy.needsTeams {
                memberships.teams = try await names(path: "/api/v1/user/teams", scope: "read:user", accessToken: accessToken,
                                                    as: ForgejoTeam.self) { $0.qualifiedName }
            }
        } catch let failure as Failure {
            return failure.decision
        } catch {
            return .unavailable(.transient(reason: .malformedResponse))
        }
        return policy.admits(memberships: memberships) ? .admitted : .refused
    }

    /// The log line for a refusal or failed check; names the missing scope so an operator knows
    /// what to add to FORGEJO_SCOPES (and that users must consent again to get it).
    static func log(_ decision: Decision, logger: Logger, userID: Int64?, login: String, when: String) {
        var metadata: Logger.Metadata = ["login": .string(login), "checked_at": .string(when)]
        if let userID { metadata["user_id"] = "\(userID)" }
        switch decision {
        case .admitted:
            return
        case .refused:
            logger.notice("sign-in refused: not in FJMCP_ALLOWED_USERS or FJMCP_ALLOWED_ORGS", metadata: metadata)
        case .missingScope(let scope):
            metadata["missing_scope"] = .string(scope)
            logger.error("sign-in refused: Forgejo denied reading memberships; the grant lacks scope \(scope) (add it to FORGEJO_SCOPES; users consent again)",
                         metadata: metadata)
        case .unavailable(let error):
            metadata["error"] = .string(error.reasonCode)
            logger.warning("sign-in check could not reach Forgejo", metadata: metadata)
        }
    }

    private struct Failure: Error {
        let decision: Decision
    }

    private func names<Item: Decodable & Sendable>(
        path: String, scope: String, accessToken: String, as type: Item.Type, name: (Item) -> String
    ) async throws -> Set<String> {
        var result = Set<String>()
        // The page size the server really uses is learnt from the first page; only an empty
        // page, or one shorter than the pages before it, ends the list.
        var fullPage = Self.pageSize
        for page in 1...Self.maxPages {
            let items: [Item]
            do {
                items = try await forgejo.apiGet("\(path)?limit=\(Self.pageSize)&page=\(page)", accessToken: accessToken, as: [Item].self)
            } catch .misconfigured(reason: .unexpectedStatus(403)) {
                throw Failure(decision: .missingScope(scope))
            } catch {
                throw Failure(decision: .unavailable(error))
            }
            result.formUnion(items.map { name($0).lowercased() })
            if page == 1 { fullPage = min(fullPage, items.count) }
            if items.isEmpty || items.count < fullPage { break }
        }
        return result
    }
}

/// The part of Forgejo's organisation object the check reads (`username`, older `name`).
struct ForgejoOrganization: Decodable, Sendable {
    let name: String

    private enum CodingKeys: String, CodingKey { case username, name }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .username) ?? container.decode(String.self, forKey: .name)
    }
}

/// A team with its organisation, as `/api/v1/user/teams` returns it.
struct ForgejoTeam: Decodable, Sendable {
    let name: String
    let organization: ForgejoOrganization

    var qualifiedName: String { organization.name + "/" + name }
}
