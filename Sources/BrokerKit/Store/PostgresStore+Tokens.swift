import Foundation
import PostgresNIO

extension PostgresStore {
    public func insertAccessToken(_ token: AccessTokenRecord) async throws {
        try await rows("""
            INSERT INTO access_tokens (token_hash, grant_id, client_id, user_id, resource, scope, expires_at, created_at)
            VALUES (\(token.tokenHash), \(token.grantID), \(token.clientID), \(token.userID), \(token.resource), \(token.scope),
                    \(token.expiresAt.epochSeconds), \(token.createdAt.epochSeconds))
            """)
    }

    public func activeAccessToken(hash: String) async throws -> AccessTokenRecord? {
        try await rows("""
            SELECT t.* FROM access_tokens t JOIN grants g ON g.id = t.grant_id
            WHERE t.token_hash = \(hash) AND g.revoked_at IS NULL
            """).first.map(AccessTokenRecord.init(row:))
    }

    public func deleteAccessToken(hash: String) async throws -> Bool {
        try await !rows("DELETE FROM access_tokens WHERE token_hash = \(hash) RETURNING 1").isEmpty
    }

    public func insertRefreshToken(_ token: RefreshTokenRecord) async throws {
        try await rows(Self.insertRefreshQuery(token))
    }

    public func activeRefreshToken(hash: String) async throws -> RefreshTokenRecord? {
        try await rows("""
            SELECT t.* FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id
            WHERE t.token_hash = \(hash) AND g.revoked_at IS NULL
            """).first.map(RefreshTokenRecord.init(row:))
    }

    /// Compare-and-swap on `rotated_at IS NULL`: of two concurrent rotations, the second waits for
    /// the first's row lock, then matches no row and loses.
    public func rotateRefreshToken(hash: String, successor: RefreshTokenRecord, successorSealed: String, now: Date) async throws -> Bool {
        let logger = self.logger
        return try await transaction { connection in
            let rotated = try await connection.count("""
                UPDATE refresh_tokens SET rotated_at = \(now.epochSeconds), successor_sealed = \(successorSealed),
                    successor_hash = \(successor.tokenHash)
                WHERE token_hash = \(hash) AND rotated_at IS NULL RETURNING 1
                """, logger: logger)
            guard rotated == 1 else { return false }
            try await connection.query(Self.insertRefreshQuery(successor), logger: logger)
            return true
        }
    }

    private static func insertRefreshQuery(_ token: RefreshTokenRecord) -> PostgresQuery {
        """
        INSERT INTO refresh_tokens (token_hash, grant_id, client_id, expires_at, created_at, rotated_at, successor_sealed, successor_hash)
        VALUES (\(token.tokenHash), \(token.grantID), \(token.clientID), \(token.expiresAt.epochSeconds),
                \(token.createdAt.epochSeconds), \(token.rotatedAt?.epochSeconds), \(token.successorSealed), \(token.successorHash))
        """
    }

    /// What it deletes, and why each row can never be used again, is documented on
    /// ``SQLiteStore``'s implementation; the statements are the same.
    public func deleteExpired(now: Date, refreshGrace: TimeInterval, retention: TimeInterval) async throws -> CleanupCounts {
        let nowSeconds = now.epochSeconds
        let graceEnd = nowSeconds - Int64(refreshGrace.rounded(.up))
        let retentionEnd = nowSeconds - Int64(retention.rounded(.up))
        let logger = self.logger
        return try await transaction { connection in
            var counts = CleanupCounts()
            counts.pendingAuthorizations = try await connection.count(
                "DELETE FROM pending_authorizations WHERE expires_at <= \(nowSeconds) RETURNING 1", logger: logger)
            counts.authorizationCodes = try await connection.count(
                "DELETE FROM authorization_codes WHERE expires_at <= \(nowSeconds) RETURNING 1", logger: logger)
            counts.accessTokens = try await connection.count(
                "DELETE FROM access_tokens WHERE expires_at <= \(nowSeconds) RETURNING 1", logger: logger)
            try await connection.query("""
                UPDATE refresh_tokens SET successor_sealed = NULL
                WHERE rotated_at IS NOT NULL AND rotated_at <= \(graceEnd) AND successor_sealed IS NOT NULL
                """, logger: logger)
            counts.refreshTokens = try await connection.count(
                "DELETE FROM refresh_tokens WHERE expires_at <= \(nowSeconds) RETURNING 1", logger: logger)
            counts.grants = try await connection.count(
                "DELETE FROM grants WHERE revoked_at IS NOT NULL AND revoked_at <= \(retentionEnd) RETURNING 1", logger: logger)
            counts.clients = try await connection.count("""
                DELETE FROM clients
                WHERE NOT EXISTS (SELECT 1 FROM grants WHERE grants.client_id = clients.client_id)
                  AND NOT EXISTS (SELECT 1 FROM pending_authorizations p WHERE p.client_id = clients.client_id)
                  AND ((kind = 'dynamic' AND created_at <= \(retentionEnd)) OR (kind = 'cimd' AND expires_at <= \(nowSeconds)))
                RETURNING 1
                """, logger: logger)
            counts.sessions = try await connection.count("""
                DELETE FROM mcp_sessions WHERE (ended_at IS NOT NULL AND ended_at <= \(retentionEnd)) OR created_at <= \(retentionEnd)
                RETURNING 1
                """, logger: logger)
            return counts
        }
    }
}
