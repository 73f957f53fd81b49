import Foundation
import Hummingbird
import Logging
import NIOCore

/// `POST /oauth/token`: authorization code exchange (PKCE) and refresh token rotation with a
/// grace window (only until the successor is first used) and family revocation. `invalid_grant` only when the failure is final; an
/// upstream hiccup is `temporarily_unavailable`.
extension AuthorizationServer {
    func token(_ request: Request, context: BrokerRequestContext) async throws -> Response {
        try await clientAuthenticatedEndpoint("token", request, context: context) { parameters, client in
            guard let grantType = try parameters.value("grant_type") else {
                throw OAuthError.invalidRequest("grant_type_missing", "grant_type is required")
            }
            let (body, login): (Data, String?)
            switch grantType {
            case "authorization_code": (body, login) = try await exchangeCode(parameters, client: client)
            case "refresh_token": (body, login) = try await refresh(parameters, client: client, logger: context.logger)
            default: throw OAuthError(.unsupportedGrantType, reason: "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
            }
            OAuthTelemetry.step(context.logger, "token", clientID: client.clientID, login: login, reason: grantType)
            return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }

    private func exchangeCode(_ parameters: OAuthParameters, client: ClientRecord) async throws -> (Data, String?) {
        guard let code = try parameters.value("code", maxLength: 512) else { throw OAuthError.invalidRequest("code_missing", "code is required") }
        guard let redirectURI = try parameters.value("redirect_uri") else {
            throw OAuthError.invalidRequest("redirect_uri_missing", "redirect_uri is required")
        }
        guard let verifier = try parameters.value("code_verifier", maxLength: 256) else {
            throw OAuthError.invalidRequest("code_verifier_missing", "code_verifier is required")
        }
        guard PKCE.isValidVerifier(verifier) else {
            throw OAuthError.invalidRequest("code_verifier_malformed", "code_verifier must be 43-128 unreserved characters")
        }
        let resource = try parameters.value("resource")
        try checkResource(resource, against: config.mcpResource)
        let now = clock.now()
        let record: AuthorizationCodeRecord
        switch try await store.consumeAuthorizationCode(hash: TokenHasher.hash(code), now: now) {
        case .notFound:
            throw OAuthError.invalidGrant("code_unknown", "the authorization code is invalid")
        case .replayed(let used):
            // OAuth 2.1 §4.1.3: a code used twice was probably stolen; kill what it produced.
            try await revokeGrant(used.grantID)
            throw OAuthError.invalidGrant("code_replayed", "the authorization code was already used")
        case .consumed(let consumed):
            record = consumed
        }
        guard record.clientID == client.clientID else { throw OAuthError.invalidGrant("code_client_mismatch", "the code was issued to another client") }
        guard record.expiresAt > now else { throw OAuthError.invalidGrant("code_expired", "the authorization code has expired") }
        guard record.redirectURI == redirectURI else { throw OAuthError.invalidGrant("redirect_uri_mismatch", "redirect_uri does not match") }
        guard PKCE.verify(verifier: verifier, challenge: record.codeChallenge) else {
            throw OAuthError.invalidGrant("pkce_mismatch", "code_verifier does not match the code_challenge")
        }
        try checkResource(resource, against: record.resource)
        let grant = try await activeGrant(record.grantID)
        let issued = IssuedTokens(grant: grant, clientID: client.clientID, scope: record.scope, resource: record.resource,
                                  tokens: config.tokens, now: now, withRefreshToken: client.allowsRefreshTokenGrant)
        if let refreshRecord = issued.refreshRecord { try await store.insertRefreshToken(refreshRecord) }
        try await store.insertAccessToken(issued.accessRecord)
        try await store.touchGrant(id: grant.id, now: now)
        OAuthTelemetry.issued(grantType: "authorization_code")
        return (issued.responseData, try await store.user(id: grant.userID)?.login)
    }

    private func refresh(_ parameters: OAuthParameters, client: ClientRecord, logger: Logger) async throws -> (Data, String?) {
        guard client.allowsRefreshTokenGrant else {
            throw OAuthError(.unauthorizedClient, reason: "grant_type_not_registered", "this client did not register the refresh_token grant")
        }
        guard let token = try parameters.value("refresh_token", maxLength: 512) else {
            throw OAuthError.invalidRequest("refresh_token_missing", "refresh_token is required")
        }
        try checkResource(try parameters.value("resource"), against: config.mcpResource)
        if parameters.contains("scope"), OAuthScope.grant(requested: try parameters.value("scope", maxLength: 1_024)) == nil {
            throw OAuthError(.invalidScope, reason: "scope_malformed", "scope is not a valid scope list")
        }
        let hash = TokenHasher.hash(token)
        let now = clock.now()
        guard let record = try await store.activeRefreshToken(hash: hash) else {
            throw OAuthError.invalidGrant("refresh_token_unknown", "the refresh token is invalid")
        }
        guard record.clientID == client.clientID else {
            throw OAuthError.invalidGrant("refresh_client_mismatch", "the refresh token was issued to another client")
        }
        guard record.expiresAt > now else { throw OAuthError.invalidGrant("refresh_token_expired", "the refresh token has expired") }
        if record.rotatedAt != nil { return try await replayedRefresh(record, now: now, logger: logger) }
        let grant = try await activeGrant(record.grantID)
        switch await upstreamGrantState.check(userID: grant.userID) {
        case .alive: break
        case .dead:
            try await revokeGrant(grant.id)
            throw OAuthError.invalidGrant("upstream_grant_dead", "the Forgejo authorization is gone; sign in again")
        case .transient:
            throw OAuthError(.temporarilyUnavailable, reason: "upstream_unavailable", "Forgejo is unavailable; try again later")
        }
        let issued = IssuedTokens(grant: grant, clientID: client.clientID, scope: grant.scope, resource: grant.resource,
                                  tokens: config.tokens, now: now)
        let sealed = successorBox.seal(Array(issued.responseData), context: hash)
        guard let successor = issued.refreshRecord,
            try await store.rotateRefreshToken(hash: hash, successor: successor, successorSealed: sealed, now: now)
        else {
            // Another request rotated it first: answer like any replay.
            guard let current = try await store.activeRefreshToken(hash: hash), current.rotatedAt != nil else {
                throw OAuthError.invalidGrant("refresh_token_unknown", "the refresh token is invalid")
            }
            return try await replayedRefresh(current, now: now, logger: logger)
        }
        try await store.insertAccessToken(issued.accessRecord)
        try await store.touchGrant(id: grant.id, now: now)
        OAuthTelemetry.issued(grantType: "refresh_token")
        upstreamGrantState.refreshRedeemed(userID: grant.userID)
        return (issued.responseData, try await store.user(id: grant.userID)?.login)
    }

    /// A rotated token presented again. While its successor has not been used and the grace
    /// window lasts, it answers the same successor (the client probably lost the response).
    /// Otherwise two parties hold the family (one of them a thief): every token of the grant,
    /// the successors included, is revoked, and the replay is logged with the client.
    private func replayedRefresh(_ record: RefreshTokenRecord, now: Date, logger: Logger) async throws -> (Data, String?) {
        let grace = TimeInterval(config.tokens.refreshGrace.components.seconds)
        let reason: String
        if let rotatedAt = record.rotatedAt, now.timeIntervalSince(rotatedAt) > grace {
            reason = "refresh_token_reused_after_grace"
        } else if try await successorWasUsed(record) {
            reason = "refresh_token_reused_after_successor"
        } else if let sealed = record.successorSealed, let successor = try? successorBox.open(sealed, context: record.tokenHash) {
            return (Data(successor), nil)
        } else {
            reason = "refresh_token_reused"
        }
        logger.warning("refresh_token_replay", metadata: [
            "client_id": .string(String(record.clientID.prefix(200))), "grant_id": .string(record.grantID), "reason": .string(reason),
        ])
        try await revokeGrant(record.grantID)
        throw OAuthError.invalidGrant(reason, "the refresh token was already used")
    }

    /// Whether the token that replaced `record` was itself redeemed (or is gone). Unknown for
    /// tokens rotated before successors were recorded: then only the grace window applies.
    private func successorWasUsed(_ record: RefreshTokenRecord) async throws -> Bool {
        guard let successorHash = record.successorHash else { return false }
        guard let successor = try await store.activeRefreshToken(hash: successorHash) else { return true }
        return successor.rotatedAt != nil
    }

    private func activeGrant(_ id: String) async throws -> GrantRecord {
        guard let grant = try await store.grant(id: id), grant.revokedAt == nil else {
            throw OAuthError.invalidGrant("grant_revoked", "the authorization was revoked")
        }
        return grant
    }

    private func checkResource(_ resource: String?, against expected: String) throws {
        if let resource, !ResourceIndicator.matches(resource, resource: expected) {
            throw OAuthError(.invalidTarget, reason: "resource_mismatch", "resource must be \(config.mcpResource)")
        }
    }
}
