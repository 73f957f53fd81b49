import Hummingbird

/// JSON test controls for out-of-process tests and the demo; mirrors `FakeForgejoState`'s API.
///
/// - `POST /_fake/users` `{login, password, id?, is_admin?}` → `{id, login, is_admin}`
/// - `POST /_fake/apps` `{name, redirect_uris, confidential_client?, client_id?, client_secret?}` → `{client_id, client_secret}`
/// - `DELETE /_fake/apps/{client_id}`
/// - `POST /_fake/lifetimes` `{access_seconds?, refresh_hours?, invalidate_refresh_tokens?}`
/// - `POST /_fake/users/{login}/expire-tokens` `{include_refresh_tokens?}`
/// - `DELETE /_fake/grants/{login}/{client_id}`
/// - `PUT /_fake/auto-approve` `{login}` (null clears)
/// - `POST /_fake/clock/advance` `{seconds}`
/// - `POST /_fake/orgs` `{name}` → `{id, name}`
/// - `PUT`/`DELETE /_fake/orgs/{org}/members/{login}` (DELETE also leaves every team of the org)
/// - `PUT`/`DELETE /_fake/orgs/{org}/teams/{team}/members/{login}` (PUT creates the team, makes an org member)
/// - `GET /_fake/counters`
/// - `POST /_fake/faults` `{target: token|api, kind, count?, milliseconds?}`; `DELETE /_fake/faults`
/// Successful commands without a body answer 204; control errors answer `{"message"}` with their status.
struct ControlRoutes {
    let state: FakeForgejoState

    func register(on router: Router<FakeRequestContext>) {
        let control = router.group("_fake")
        control.post("users") { request, context in
            try await respond {
                let seed = try await request.decode(as: FakeUserSeed.self, context: context)
                let user = try await state.createUser(seed)
                return FakeResponses.json(
                    ControlUserResponse(id: user.id, login: user.login, isAdmin: user.isAdmin), status: .created)
            }
        }
        control.post("apps") { request, context in
            try await respond {
                let seed = try await request.decode(as: FakeAppSeed.self, context: context)
                return FakeResponses.json(try await state.registerApp(seed), status: .created)
            }
        }
        control.delete("apps/:client") { _, context in
            try await perform { try await state.deleteApp(clientID: context.parameters.require("client")) }
        }
        control.post("lifetimes") { request, context in
            try await perform {
                let body = try await request.decode(as: LifetimesRequest.self, context: context)
                if let seconds = body.accessSeconds { await state.setAccessTokenLifetime(seconds: seconds) }
                if let hours = body.refreshHours { await state.setRefreshTokenLifetime(hours: hours) }
                if let enabled = body.invalidateRefreshTokens { await state.setInvalidateRefreshTokens(enabled) }
            }
        }
        control.post("users/:login/expire-tokens") { request, context in
            try await perform {
                let body = try? await request.decode(as: ExpireTokensRequest.self, context: context)
                try await state.expireTokens(
                    login: context.parameters.require("login"),
                    includeRefreshTokens: body?.includeRefreshTokens ?? false)
            }
        }
        control.delete("grants/:login/:client") { _, context in
            try await perform {
                try await state.revokeGrant(
                    login: context.parameters.require("login"), clientID: context.parameters.require("client"))
            }
        }
        control.put("auto-approve") { request, context in
            try await perform {
                let body = try await request.decode(as: AutoApproveRequest.self, context: context)
                await state.setAutoApproveUser(body.login)
            }
        }
        control.post("clock/advance") { request, context in
            try await perform {
                let body = try await request.decode(as: AdvanceClockRequest.self, context: context)
                await state.advanceClock(seconds: body.seconds)
            }
        }
        control.post("orgs") { request, context in
            try await respond {
                let body = try await request.decode(as: CreateOrganizationRequest.self, context: context)
                let id = try await state.createOrganization(name: body.name)
                return FakeResponses.json(ControlOrganizationResponse(id: id, name: body.name), status: .created)
            }
        }
        control.put("orgs/:org/members/:login") { _, context in
            try await perform {
                try await state.addMember(organization: context.parameters.require("org"), login: context.parameters.require("login"))
            }
        }
        control.delete("orgs/:org/members/:login") { _, context in
            try await perform {
                try await state.removeMember(organization: context.parameters.require("org"), login: context.parameters.require("login"))
            }
        }
        control.put("orgs/:org/teams/:team/members/:login") { _, context in
            try await perform {
                try await state.addMember(organization: context.parameters.require("org"), team: context.parameters.require("team"),
                                          login: context.parameters.require("login"))
            }
        }
        control.delete("orgs/:org/teams/:team/members/:login") { _, context in
            try await perform {
                try await state.removeMember(organization: context.parameters.require("org"), team: context.parameters.require("team"),
                                             login: context.parameters.require("login"))
            }
        }
        control.get("counters") { _, _ in FakeResponses.json(await state.counters()) }
        control.post("faults") { request, context in
            try await perform {
                let body = try await request.decode(as: FaultRequest.self, context: context)
                guard let fault = FakeFault(kind: body.kind, milliseconds: body.milliseconds ?? 0) else {
                    throw FakeForgejoControlError.invalidRequest("unknown fault kind '\(body.kind)'")
                }
                await state.injectFault(fault, target: body.target, count: body.count ?? 1)
            }
        }
        control.delete("faults") { _, _ in
            await state.clearFaults()
            return Response(status: .noContent)
        }
    }

    private func perform(_ command: () async throws -> Void) async throws -> Response {
        try await respond {
            try await command()
            return Response(status: .noContent)
        }
    }

    /// Renders control errors as `{"message"}` with the error's own status.
    private func respond(_ command: () async throws -> Response) async throws -> Response {
        do {
            return try await command()
        } catch let error as FakeForgejoControlError {
            return FakeResponses.json(
                ["message": error.message], status: HTTPResponse.Status(code: error.httpStatus))
        }
    }
}
