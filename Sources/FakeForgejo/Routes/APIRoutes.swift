import Foundation
import Hummingbird

/// `/api/v1` routes. A bad token is rejected on every route, even public ones (forgejo-notes A10).
struct APIRoutes {
    let state: FakeForgejoState

    /// Thrown by handlers; renders Forgejo's `{"message", "url"}` body.
    struct APIError: Error {
        let status: HTTPResponse.Status
        let message: String
    }

    func register(on router: Router<FakeRequestContext>) {
        let api = router.group("api/v1")
        route(api, .get, "version", needsUser: false) { _, _, _ in FakeResponses.json(["version": state.version]) }
        route(api, .get, "settings/api", needsUser: false) { _, _, _ in FakeResponses.json(APISettings(maxResponseItems: state.maxResponseItems)) }
        route(api, .get, "user") { _, _, user in
            FakeResponses.json(APIUser(try required(user), rootURL: await state.rootURL))
        }
        route(api, .get, "user/repos") { _, _, user in
            let user = try required(user)
            let root = await state.rootURL
            return FakeResponses.json(
                await state.repositories(ownerID: user.id).map { APIRepository($0, owner: user, rootURL: root) })
        }
        route(api, .get, "user/orgs") { request, _, user in
            let user = try required(user)
            try await requireMembershipRead(["user", "organization"], request)
            return FakeResponses.json(page(await state.organizations(memberID: user.id).map(APIOrganization.init), request))
        }
        route(api, .get, "user/teams") { request, _, user in
            let user = try required(user)
            try await requireMembershipRead(["user"], request)
            let teams = await state.teams(memberID: user.id).map { APITeam(team: $0.team, organization: APIOrganization($0.organization)) }
            return FakeResponses.json(page(teams, request))
        }
        route(api, .get, "repos/:owner/:repo") { _, context, _ in
            let (repository, owner) = try await lookUp(context)
            return FakeResponses.json(APIRepository(repository, owner: owner, rootURL: await state.rootURL))
        }
        route(api, .get, "repos/:owner/:repo/issues") { _, context, _ in
            let (repository, _) = try await lookUp(context)
            return FakeResponses.json(try await issues(of: repository))
        }
        route(api, .get, "repos/:owner/:repo/issues/:index") { _, context, _ in
            let (repository, _) = try await lookUp(context)
            let index = context.parameters.get("index", as: Int.self)
            guard let issue = repository.issues.first(where: { $0.index == index }) else { throw notFound }
            return FakeResponses.json(try await render(issue, in: repository))
        }
        route(api, .post, "repos/:owner/:repo/issues") { request, context, user in
            let user = try required(user)
            let (repository, _) = try await lookUp(context)
            let body = try? await request.decode(as: CreateIssueBody.self, context: context)
            guard let title = body?.title, !title.isEmpty else {
                throw APIError(status: .unprocessableContent, message: "[Title]: Required")
            }
            guard
                let issue = await state.createIssue(
                    owner: repository.ownerLogin, name: repository.name, title: title, body: body?.body ?? "",
                    authorID: user.id)
            else { throw notFound }
            var response = FakeResponses.json(try await render(issue, in: repository))
            response.status = .created
            return response
        }
    }

    /// Forgejo's scope check (`tokenRequiresScopes`): 403 naming the scopes the grant lacks.
    /// A membership list's scope check, and the test switch that makes the lists fail.
    private func requireMembershipRead(_ categories: [String], _ request: Request) async throws {
        if await state.membershipListsFailing { throw APIError(status: .internalServerError, message: "membership lists failing (fake)") }
        try await requireRead(categories, request)
    }

    private func requireRead(_ categories: [String], _ request: Request) async throws {
        let missing = await state.apiScope(authorization: request.headers[.authorization])?.missingRead(categories) ?? []
        guard missing.isEmpty else {
            throw APIError(status: .forbidden,
                           message: "token does not have at least one of required scope(s): [\(missing.joined(separator: " "))]")
        }
    }

    /// Forgejo's paging: `limit` (default 30, at most `MAX_RESPONSE_ITEMS`) and 1-based `page`.
    private func page<Item>(_ items: [Item], _ request: Request) -> [Item] {
        let query = request.uri.queryParameters
        let limit = min(max(query.get("limit", as: Int.self) ?? min(30, state.maxResponseItems), 1), state.maxResponseItems)
        let page = max(query.get("page", as: Int.self) ?? 1, 1)
        return Array(items.dropFirst((page - 1) * limit).prefix(limit))
    }

    private var notFound: APIError { APIError(status: .notFound, message: "The target couldn't be found.") }

    private func required(_ user: FakeUser?) throws -> FakeUser {
        guard let user else { throw APIError(status: .unauthorized, message: "token is required") }
        return user
    }

    private func lookUp(_ context: FakeRequestContext) async throws -> (FakeRepository, FakeUser) {
        guard let owner = context.parameters.get("owner"), let name = context.parameters.get("repo"),
            let repository = await state.repository(owner: owner, name: name),
            let ownerRecord = await state.userRecord(id: repository.ownerID)
        else { throw notFound }
        return (repository, ownerRecord)
    }

    private func issues(of repository: FakeRepository) async throws -> [APIIssue] {
        var rendered: [APIIssue] = []
        for issue in repository.issues { rendered.append(try await render(issue, in: repository)) }
        return rendered
    }

    private func render(_ issue: FakeIssue, in repository: FakeRepository) async throws -> APIIssue {
        APIIssue(
            issue, repository: repository, author: await state.userRecord(id: issue.authorID),
            rootURL: await state.rootURL)
    }

    /// Wraps a handler with token authentication and error rendering. Every route except the
    /// public ones demands a user; a rejected token fails before the handler runs.
    private func route(
        _ group: RouterGroup<FakeRequestContext>, _ method: HTTPRequest.Method, _ path: RouterPath,
        needsUser: Bool = true,
        _ handler: @escaping @Sendable (Request, FakeRequestContext, FakeUser?) async throws -> Response
    ) {
        let state = self.state
        group.on(path, method: method) { request, context in
            let swagger = await state.swaggerURL
            do {
                let user: FakeUser?
                switch await state.authenticateAPI(
                    authorization: request.headers[.authorization], path: request.uri.path)
                {
                case .rejected:
                    throw APIError(status: .unauthorized, message: "user does not exist [uid: 0, name: ]")
                case .anonymous:
                    if needsUser { throw APIError(status: .unauthorized, message: "token is required") }
                    user = nil
                case .user(let authenticated):
                    user = authenticated
                }
                return try await handler(request, context, user)
            } catch let error as APIError {
                return FakeResponses.json(APIErrorBody(message: error.message, url: swagger), status: error.status)
            }
        }
    }
}
