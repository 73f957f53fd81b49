import Foundation
import GRDB

extension SQLiteStore {
    public func ping() async throws {
        _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    public func upsertUser(_ user: UserRecord) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO users (id, login, full_name, email, avatar_url, is_admin, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET login = excluded.login, full_name = excluded.full_name,
                    email = excluded.email, avatar_url = excluded.avatar_url, is_admin = excluded.is_admin,
                    updated_at = excluded.updated_at
                """, arguments: [user.id, user.login, user.fullName, user.email, user.avatarURL, user.isAdmin,
                                 user.createdAt.epochSeconds, user.updatedAt.epochSeconds])
        }
    }

    public func user(id: Int64) async throws -> UserRecord? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM users WHERE id = ?", arguments: [id]).map(UserRecord.init(row:)) }
    }

    public func user(login: String) async throws -> UserRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM users WHERE login = ? COLLATE NOCASE ORDER BY updated_at DESC LIMIT 1",
                             arguments: [login]).map(UserRecord.init(row:))
        }
    }

    public func upstreamTokens(userID: Int64) async throws -> UpstreamTokenRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM upstream_tokens WHERE user_id = ? AND sealed IS NOT NULL",
                             arguments: [userID]).map(UpstreamTokenRecord.init(row:))
        }
    }

    public func replaceUpstreamTokens(userID: Int64, sealed: String, accessExpiresAt: Date?, now: Date) async throws -> Int64 {
        try await pool.write { db in
            try Int64.fetchOne(db, sql: """
                INSERT INTO upstream_tokens (user_id, sealed, access_expires_at, version, updated_at) VALUES (?, ?, ?, 1, ?)
                ON CONFLICT(user_id) DO UPDATE SET sealed = excluded.sealed, access_expires_at = excluded.access_expires_at,
                    version = upstream_tokens.version + 1, updated_at = excluded.updated_at
                RETURNING version
                """, arguments: [userID, sealed, accessExpiresAt?.epochSeconds, now.epochSeconds]) ?? 1
        }
    }

    public func swapUpstreamTokens(userID: Int64, expectedVersion: Int64, sealed: String, accessExpiresAt: Date?, now: Date) async throws -> Int64? {
        try await pool.write { db in
            try Int64.fetchOne(db, sql: """
                UPDATE upstream_tokens SET sealed = ?, access_expires_at = ?, version = version + 1, updated_at = ?
                WHERE user_id = ? AND version = ? AND sealed IS NOT NULL RETURNING version
                """, arguments: [sealed, accessExpiresAt?.epochSeconds, now.epochSeconds, userID, expectedVersion])
        }
    }

    /// Leaves a tombstone (see ``BrokerStore``): the row stays, without a set, keeping its version.
    public func deleteUpstreamTokens(userID: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE upstream_tokens SET sealed = NULL, access_expires_at = NULL WHERE user_id = ?", arguments: [userID])
        }
    }

    public func deleteUpstreamTokens(userID: Int64, expectedVersion: Int64) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE upstream_tokens SET sealed = NULL, access_expires_at = NULL
                WHERE user_id = ? AND version = ? AND sealed IS NOT NULL
                """, arguments: [userID, expectedVersion])
            return db.changesCount > 0
        }
    }
}
