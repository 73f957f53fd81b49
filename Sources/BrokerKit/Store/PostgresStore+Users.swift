import Foundation
import PostgresNIO

extension PostgresStore: BrokerStore {
    /// Bounded by ``pingTimeout``: a server that stopped answering fails readiness promptly.
    public func ping() async throws {
        let answered = await withTimeout(Self.pingTimeout) { () async -> Bool? in
            (try? await self.rows("SELECT 1")) != nil
        }
        guard answered == true else { throw PingFailure(target: target) }
    }

    /// Applied migration identifiers, for tests and operators.
    public func appliedMigrations() async throws -> [String] {
        try await rows("SELECT identifier FROM schema_migrations ORDER BY identifier").map { try $0.column("identifier") }
    }

    public func upsertUser(_ user: UserRecord) async throws {
        try await rows("""
            INSERT INTO users (id, login, full_name, email, avatar_url, is_admin, created_at, updated_at)
            VALUES (\(user.id), \(user.login), \(user.fullName), \(user.email), \(user.avatarURL), \(user.isAdmin),
                    \(user.createdAt.epochSeconds), \(user.updatedAt.epochSeconds))
            ON CONFLICT (id) DO UPDATE SET login = excluded.login, full_name = excluded.full_name,
                email = excluded.email, avatar_url = excluded.avatar_url, is_admin = excluded.is_admin,
                updated_at = excluded.updated_at
            """)
    }

    public func user(id: Int64) async throws -> UserRecord? {
        try await rows("SELECT * FROM users WHERE id = \(id)").first.map(UserRecord.init(row:))
    }

    public func user(login: String) async throws -> UserRecord? {
        try await rows("SELECT * FROM users WHERE lower(login) = lower(\(login)) ORDER BY updated_at DESC LIMIT 1")
            .first.map(UserRecord.init(row:))
    }

    public func upstreamTokens(userID: Int64) async throws -> UpstreamTokenRecord? {
        try await rows("SELECT * FROM upstream_tokens WHERE user_id = \(userID) AND sealed IS NOT NULL").first
            .map(UpstreamTokenRecord.init(row:))
    }

    public func replaceUpstreamTokens(userID: Int64, sealed: String, accessExpiresAt: Date?, now: Date) async throws -> Int64 {
        try await rows("""
            INSERT INTO upstream_tokens (user_id, sealed, access_expires_at, version, updated_at)
            VALUES (\(userID), \(sealed), \(accessExpiresAt?.epochSeconds), 1, \(now.epochSeconds))
            ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, access_expires_at = excluded.access_expires_at,
                version = upstream_tokens.version + 1, updated_at = excluded.updated_at
            RETURNING version
            """).first?.column("version") ?? 1
    }

    public func swapUpstreamTokens(userID: Int64, expectedVersion: Int64, sealed: String, accessExpiresAt: Date?, now: Date) async throws -> Int64? {
        try await rows("""
            UPDATE upstream_tokens SET sealed = \(sealed), access_expires_at = \(accessExpiresAt?.epochSeconds),
                version = version + 1, updated_at = \(now.epochSeconds)
            WHERE user_id = \(userID) AND version = \(expectedVersion) AND sealed IS NOT NULL RETURNING version
            """).first?.column("version")
    }

    /// Leaves a tombstone (see ``BrokerStore``): the row stays, without a set, keeping its version.
    public func deleteUpstreamTokens(userID: Int64) async throws {
        try await rows("UPDATE upstream_tokens SET sealed = NULL, access_expires_at = NULL WHERE user_id = \(userID)")
    }

    public func deleteUpstreamTokens(userID: Int64, expectedVersion: Int64) async throws -> Bool {
        try await !rows("""
            UPDATE upstream_tokens SET sealed = NULL, access_expires_at = NULL
            WHERE user_id = \(userID) AND version = \(expectedVersion) AND sealed IS NOT NULL RETURNING 1
            """).isEmpty
    }

    /// A transaction holding the user's advisory lock for as long as `body` runs (its own store
    /// calls use other pooled connections); a second process asking for the same user waits, then
    /// reads the set the first one stored. Keys are the user id truncated to 32 bits: two users
    /// sharing one would only wait for each other. At most a quarter of the pool holds such a
    /// lock at once (``refreshPermits``), so the body's own store calls always find a connection.
    public func withUpstreamRefreshLock<Result: Sendable>(userID: Int64, _ body: () async throws -> Result) async throws -> Result {
        let logger = self.logger
        return try await refreshPermits.run {
            try await transaction { connection in
                try await connection.query(
                    "SELECT pg_advisory_xact_lock(\(AdvisoryLock.upstreamRefreshNamespace), \(Int32(truncatingIfNeeded: userID)))", logger: logger)
                return try await body()
            }
        }
    }
}

/// The database did not answer a trivial query in time (readiness).
struct PingFailure: Error, CustomStringConvertible {
    let target: String
    var description: String { "the database \(target) did not answer within \(PostgresStore.pingTimeout)" }
}
