import Foundation

/// REST API support: token checks and the in-memory repositories.
extension FakeForgejoState {
    /// Accepts `token X` and `Bearer X` (scheme case-insensitive); other schemes count as no token.
    func authenticateAPI(authorization: String?, path: String) -> APIAuthentication {
        statistics.apiCalls[path, default: 0] += 1
        guard let token = Self.apiToken(authorization) else { return .anonymous }
        guard let grant = grant(accessToken: token), let user = users[grant.userID] else { return .rejected }
        return .user(user)
    }

    /// The scope of the grant behind a valid API token; nil without one.
    func apiScope(authorization: String?) -> FakeTokenScope? {
        Self.apiToken(authorization).flatMap(grant(accessToken:)).map { FakeTokenScope($0.scope) }
    }

    private static func apiToken(_ authorization: String?) -> String? {
        guard let authorization else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, ["token", "bearer"].contains(parts[0].lowercased()) else { return nil }
        return String(parts[1]).trimmingCharacters(in: .whitespaces)
    }

    private func grant(accessToken token: String) -> FakeGrant? {
        let current = now()
        guard let claims = signer.parse(token), claims.tt == .access, claims.exp > current, claims.iat <= current,
            !expiredTokens.contains(token)
        else { return nil }
        return grants[claims.gnt]
    }

    var swaggerURL: String { rootURL + "api/swagger" }

    func repositories(ownerID: Int) -> [FakeRepository] {
        repositories.filter { $0.ownerID == ownerID }
    }

    func repository(owner: String, name: String) -> FakeRepository? {
        repositories.first { $0.ownerLogin.lowercased() == owner.lowercased() && $0.name.lowercased() == name.lowercased() }
    }

    func userRecord(id: Int) -> FakeUser? {
        users[id]
    }

    /// Appends an issue with the next per-repository index; nil when the repository is unknown.
    func createIssue(owner: String, name: String, title: String, body: String, authorID: Int) -> FakeIssue? {
        guard let position = repositories.firstIndex(where: {
            $0.ownerLogin.lowercased() == owner.lowercased() && $0.name.lowercased() == name.lowercased()
        }) else { return nil }
        let issue = FakeIssue(
            id: allocateID(), index: (repositories[position].issues.map(\.index).max() ?? 0) + 1, title: title,
            body: body, authorID: authorID, createdAt: now())
        repositories[position].issues.append(issue)
        return issue
    }
}
