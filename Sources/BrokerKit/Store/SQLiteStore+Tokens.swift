import Foundation
import GRDB

extension SQLiteStore {
    public func insertAccessToken(_ token: AccessTokenRecord) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO access_tokens (token_hash, grant_id, client_id, user_id, resource, scope, expires_at, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [token.tokenHash, token.grantID, token.clientID, token.userID, token.resource, token.scope,
                                 token.expiresAt.epochSeconds, token.createdAt.epochSeconds])
        }
    }

    public func activeAccessToken(hash: String) async throws -> AccessTokenRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT t.* FROM access_tokens t JOIN grants g ON g.id = t.grant_id
                WHERE t.token_hash = ? AND g.revoked_at IS NULL
                """, arguments: [hash]).map(AccessTokenRecord.init(row:))
        }
    }

    public func deleteAccessToken(hash: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM access_tokens WHERE token_hash = ?", arguments: [hash])
            return db.changesCount > 0
        }
    }

    public func insertRefreshToken(_ token: RefreshTokenRecord) async throws {
        try await pool.write { db in try Self.insertRefresh(token, db: db) }
    }

    public func activeRefreshToken(hash: String) async throws -> RefreshTokenRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT t.* FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id
                WHERE t.token_hash = ? AND g.revoked_at IS NULL
                """, arguments: [hash]).map(RefreshTokenRecord.init(row:))
        }
    }

    public func rotateRefreshToken(hash: String, successor: RefreshTokenRecord, successorSealed: String, now: Date) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE refresh_tokens SET rotated_at = ?, successor_sealed = ?, successor_hash = ?
                WHERE token_hash = ? AND rotated_at IS NULL
                """, arguments: [now.epochSeconds, successorSealed, successor.tokenHash, hash])
            guard db.changesCount == 1 else { return false }
            try Self.insertRefresh(successor, db: db)
            return true
        }
    }

    private static func insertRefresh(_ token: RefreshTokenRecord, db: Database) throws {
        try db.execute(sql: """
            INSERT INTO refresh_tokens (token_hash, grant_id, client_id, expires_at, created_at, rotated_at, successor_sealed,
                                        successor_hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [token.tokenHash, token.grantID, token.clientID, token.expiresAt.epochSeconds,
                             token.createdAt.epochSeconds, token.rotatedAt?.epochSeconds, token.successorSealed,
                             token.successorHash])
    }

    public func deleteExpired(now: Date, refreshGrace: TimeInterval, retention: TimeInterval) async throws -> CleanupCounts {
        let nowSeconds = now.epochSeconds
        let graceEnd = nowSeconds - Int64(refreshGrace.rounded(.up))
        let retentionEnd = nowSeconds - Int64(retention.rounded(.up))
        return try await pool.write { db in
            var counts = CleanupCounts()
            try db.execute(sql: "DELETE FROM pending_authorizations WHERE expires_at <= ?", arguments: [nowSeconds])
            counts.pendingAuthorizations = db.changesCount
            // Used codes are kept until they expire so a replay is still recognised (and revokes the grant).
            try db.execute(sql: "DELETE FROM authorization_codes WHERE expires_at <= ?", arguments: [nowSeconds])
            counts.authorizationCodes = db.changesCount
            try db.execute(sql: "DELETE FROM access_tokens WHERE expires_at <= ?", arguments: [nowSeconds])
            counts.accessTokens = db.changesCount
            // Rotated tokens stay (without their sealed successor) until they expire, so reuse
            // outside the grace window is still detected and revokes the family.
            try db.execute(sql: "UPDATE refresh_tokens SET successor_sealed = NULL WHERE rotated_at IS NOT NULL AND rotated_at <= ? AND successor_sealed IS NOT NULL",
                           arguments: [graceEnd])
            try db.execute(sql: "DELETE FROM refresh_tokens WHERE expires_at <= ?", arguments: [nowSeconds])
            counts.refreshTokens = db.changesCount
            // A revoked grant can never be used again; it is kept for a while only so operators
            // can see what was revoked. Its codes and tokens go with it (ON DELETE CASCADE).
            try db.execute(sql: "DELETE FROM grants WHERE revoked_at IS NOT NULL AND revoked_at <= ?", arguments: [retentionEnd])
            counts.grants = db.changesCount
            // Open registration lets anyone create clients; one that never obtained a grant
            // within the retention is abandoned. A metadata-document client is only a cache of
            // its document: once stale and without grants it is fetched again when next used.
            try db.execute(sql: """
                DELETE FROM clients
                WHERE NOT EXISTS (SELECT 1 FROM grants WHERE grants.client_id = clients.client_id)
                  AND NOT EXISTS (SELECT 1 FROM pending_authorizations p WHERE p.client_id = clients.client_id)
                  AND ((kind = 'dynamic' AND created_at <= ?) OR (kind = 'cimd' AND expires_at <= ?))
                """, arguments: [retentionEnd, nowSeconds])
            counts.clients = db.changesCount
            // An ended session can never be resumed; it is kept as long as a revoked grant. One
            // never ended (opened, then abandoned) goes after the retention too: no session
            // lifetime is longer than that in practice (the default is 24 h).
            try db.execute(sql: "DELETE FROM mcp_sessions WHERE (ended_at IS NOT NULL AND ended_at <= ?) OR created_at <= ?",
                           arguments: [retentionEnd, retentionEnd])
            counts.sessions = db.changesCount
            return counts
        }
    }
}
