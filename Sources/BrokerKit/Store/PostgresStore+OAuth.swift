import Foundation
import PostgresNIO

// MARK: Clients

extension PostgresStore {
    public func insertClient(_ client: ClientRecord) async throws {
        try await rows(Self.insertClientQuery(client, upsert: false))
    }

    public func upsertClient(_ client: ClientRecord) async throws {
        try await rows(Self.insertClientQuery(client, upsert: true))
    }

    public func client(id: String) async throws -> ClientRecord? {
        try await rows("SELECT * FROM clients WHERE client_id = \(id)").first.flatMap(ClientRecord.init(row:))
    }

    public func clientCount() async throws -> Int {
        try await rows("SELECT COUNT(*) AS n FROM clients").first?.column("n") ?? 0
    }

    /// The count and the eviction run under an advisory lock: two registrations at once must not
    /// both see room (SQLite's single writer gives the same guarantee).
    public func insertClient(_ client: ClientRecord, maxGrantless: Int) async throws -> Int {
        let logger = self.logger
        return try await transaction { connection in
            try await Self.lock(.boundedClients, connection, logger: logger)
            try await connection.query(Self.insertClientQuery(client, upsert: false), logger: logger)
            let grantless: Int = try await connection.rows("""
                SELECT COUNT(*) AS n FROM clients c WHERE kind = 'dynamic'
                  AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.client_id = c.client_id)
                """, logger: logger).first?.column("n") ?? 0
            guard grantless > maxGrantless else { return 0 }
            return try await connection.count("""
                DELETE FROM clients WHERE client_id IN (
                    SELECT client_id FROM clients c WHERE kind = 'dynamic'
                      AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.client_id = c.client_id) AND client_id <> \(client.clientID)
                    ORDER BY EXISTS (SELECT 1 FROM pending_authorizations p WHERE p.client_id = c.client_id), created_at, rowid
                    LIMIT \(grantless - maxGrantless))
                RETURNING 1
                """, logger: logger)
        }
    }

    public func deleteGrantlessClients(createdBefore: Date) async throws -> Int {
        try await rows("""
            DELETE FROM clients AS c WHERE kind = 'dynamic' AND created_at <= \(createdBefore.epochSeconds)
              AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.client_id = c.client_id)
              AND NOT EXISTS (SELECT 1 FROM pending_authorizations p WHERE p.client_id = c.client_id)
            RETURNING 1
            """).count
    }

    private static func insertClientQuery(_ client: ClientRecord, upsert: Bool) -> PostgresQuery {
        let conflict = upsert ? """
            ON CONFLICT (client_id) DO UPDATE SET kind = excluded.kind, secret_hash = excluded.secret_hash,
                name = excluded.name, redirect_uris = excluded.redirect_uris,
                token_endpoint_auth_method = excluded.token_endpoint_auth_method,
                metadata_json = excluded.metadata_json, expires_at = excluded.expires_at
            """ : ""
        return """
            INSERT INTO clients (client_id, kind, secret_hash, name, redirect_uris, token_endpoint_auth_method,
                                 metadata_json, created_at, expires_at)
            VALUES (\(client.clientID), \(client.kind.rawValue), \(client.secretHash), \(client.name), \(client.redirectURIsJSON),
                    \(client.tokenEndpointAuthMethod), \(client.metadataJSON), \(client.createdAt.epochSeconds),
                    \(client.expiresAt?.epochSeconds))
            \(unescaped: conflict)
            """
    }
}

// MARK: Grants

extension PostgresStore {
    /// One statement: the partial unique index on active grants is the conflict target, so two
    /// concurrent sign-ins of one user to one client end with one grant, not a constraint error.
    public func upsertGrant(userID: Int64, clientID: String, scope: String, resource: String, newID: String, now: Date) async throws -> GrantRecord {
        let row = try await rows("""
            INSERT INTO grants (id, user_id, client_id, scope, resource, created_at, last_used_at)
            VALUES (\(newID), \(userID), \(clientID), \(scope), \(resource), \(now.epochSeconds), \(now.epochSeconds))
            ON CONFLICT (user_id, client_id) WHERE revoked_at IS NULL
            DO UPDATE SET scope = excluded.scope, resource = excluded.resource, last_used_at = excluded.last_used_at
            RETURNING *
            """).first
        guard let row else { throw MissingRow(statement: "upsert grant") }
        return try GrantRecord(row: row)
    }

    public func grant(id: String) async throws -> GrantRecord? {
        try await rows("SELECT * FROM grants WHERE id = \(id)").first.map(GrantRecord.init(row:))
    }

    public func activeGrants(userID: Int64) async throws -> [GrantRecord] {
        try await rows("SELECT * FROM grants WHERE user_id = \(userID) AND revoked_at IS NULL ORDER BY created_at")
            .map(GrantRecord.init(row:))
    }

    public func revokeGrant(id: String, now: Date) async throws -> Bool {
        let logger = self.logger
        return try await transaction { connection in try await Self.revoke(grantIDs: [id], connection, logger: logger, now: now) > 0 }
    }

    public func revokeGrants(userID: Int64, now: Date) async throws -> [String] {
        let logger = self.logger
        return try await transaction { connection in
            let ids: [String] = try await connection.rows(
                "SELECT id FROM grants WHERE user_id = \(userID) AND revoked_at IS NULL", logger: logger).map { try $0.column("id") }
            try await Self.revoke(grantIDs: ids, connection, logger: logger, now: now)
            return ids
        }
    }

    public func touchGrant(id: String, now: Date) async throws {
        try await rows("UPDATE grants SET last_used_at = \(now.epochSeconds) WHERE id = \(id)")
    }

    /// Revocation kills everything issued from the grant in the same transaction, so no token
    /// outlives its grant even for one request.
    @discardableResult
    private static func revoke(grantIDs: [String], _ connection: PostgresConnection, logger: Logger, now: Date) async throws -> Int {
        var revoked = 0
        for id in grantIDs {
            revoked += try await connection.count(
                "UPDATE grants SET revoked_at = \(now.epochSeconds) WHERE id = \(id) AND revoked_at IS NULL RETURNING 1", logger: logger)
            try await connection.query("DELETE FROM authorization_codes WHERE grant_id = \(id)", logger: logger)
            try await connection.query("DELETE FROM access_tokens WHERE grant_id = \(id)", logger: logger)
            try await connection.query("DELETE FROM refresh_tokens WHERE grant_id = \(id)", logger: logger)
        }
        return revoked
    }
}

// MARK: Pending authorization requests and codes

extension PostgresStore {
    public func insertPendingAuthorization(_ pending: PendingAuthorizationRecord) async throws {
        try await rows(Self.insertPendingQuery(pending))
    }

    /// Under an advisory lock, like ``insertClient(_:maxGrantless:)``: the total bound holds
    /// under concurrent sign-ins.
    public func insertPendingAuthorization(
        _ pending: PendingAuthorizationRecord, maxPerBrowser: Int, maxTotal: Int, now: Date
    ) async throws -> Bool {
        let logger = self.logger
        return try await transaction { connection in
            try await Self.lock(.boundedPendingAuthorizations, connection, logger: logger)
            try await connection.query("DELETE FROM pending_authorizations WHERE expires_at <= \(now.epochSeconds)", logger: logger)
            try await connection.query("""
                DELETE FROM pending_authorizations WHERE id IN (
                    SELECT id FROM pending_authorizations WHERE browser_binding_hash = \(pending.browserBindingHash)
                    ORDER BY created_at DESC, rowid DESC OFFSET \(max(maxPerBrowser - 1, 0)))
                """, logger: logger)
            let total: Int = try await connection.rows("SELECT COUNT(*) AS n FROM pending_authorizations", logger: logger)
                .first?.column("n") ?? 0
            guard total < maxTotal else { return false }
            try await connection.query(Self.insertPendingQuery(pending), logger: logger)
            return true
        }
    }

    public func pendingAuthorizationCount() async throws -> Int {
        try await rows("SELECT COUNT(*) AS n FROM pending_authorizations").first?.column("n") ?? 0
    }

    public func pendingAuthorization(id: String) async throws -> PendingAuthorizationRecord? {
        try await rows("SELECT * FROM pending_authorizations WHERE id = \(id)").first.map(PendingAuthorizationRecord.init(row:))
    }

    public func pendingAuthorization(upstreamStateHash: String) async throws -> PendingAuthorizationRecord? {
        try await rows("SELECT * FROM pending_authorizations WHERE upstream_state_hash = \(upstreamStateHash)")
            .first.map(PendingAuthorizationRecord.init(row:))
    }

    public func beginUpstreamLeg(pendingID: String, upstreamStateHash: String, upstreamVerifierSealed: String) async throws {
        try await rows("""
            UPDATE pending_authorizations SET upstream_state_hash = \(upstreamStateHash), upstream_verifier_sealed = \(upstreamVerifierSealed)
            WHERE id = \(pendingID)
            """)
    }

    public func takePendingAuthorization(id: String) async throws -> PendingAuthorizationRecord? {
        try await rows("DELETE FROM pending_authorizations WHERE id = \(id) RETURNING *").first.map(PendingAuthorizationRecord.init(row:))
    }

    private static func insertPendingQuery(_ pending: PendingAuthorizationRecord) -> PostgresQuery {
        """
        INSERT INTO pending_authorizations (id, client_id, redirect_uri, client_state, code_challenge, scope, resource,
            browser_binding_hash, upstream_state_hash, upstream_verifier_sealed, created_at, expires_at)
        VALUES (\(pending.id), \(pending.clientID), \(pending.redirectURI), \(pending.clientState), \(pending.codeChallenge),
                \(pending.scope), \(pending.resource), \(pending.browserBindingHash), \(pending.upstreamStateHash),
                \(pending.upstreamVerifierSealed), \(pending.createdAt.epochSeconds), \(pending.expiresAt.epochSeconds))
        """
    }

    public func insertAuthorizationCode(_ code: AuthorizationCodeRecord) async throws {
        try await rows("""
            INSERT INTO authorization_codes (code_hash, grant_id, client_id, redirect_uri, code_challenge, resource, scope, expires_at, used_at)
            VALUES (\(code.codeHash), \(code.grantID), \(code.clientID), \(code.redirectURI), \(code.codeChallenge),
                    \(code.resource), \(code.scope), \(code.expiresAt.epochSeconds), NULL)
            """)
    }

    /// The conditional UPDATE is the single-use check: of two concurrent exchanges, the second
    /// waits for the first's row lock, then finds the code used and reports a replay.
    public func consumeAuthorizationCode(hash: String, now: Date) async throws -> CodeConsumption {
        let logger = self.logger
        return try await transaction { connection in
            if let row = try await connection.rows("""
                UPDATE authorization_codes SET used_at = \(now.epochSeconds) WHERE code_hash = \(hash) AND used_at IS NULL RETURNING *
                """, logger: logger).first {
                return .consumed(try AuthorizationCodeRecord(row: row))
            }
            guard let row = try await connection.rows("SELECT * FROM authorization_codes WHERE code_hash = \(hash)", logger: logger).first
            else { return .notFound }
            return .replayed(try AuthorizationCodeRecord(row: row))
        }
    }
}

/// A statement that always returns a row returned none (a server or schema this version does not expect).
struct MissingRow: Error, CustomStringConvertible {
    let statement: String
    var description: String { "the database returned no row for: \(statement)" }
}
