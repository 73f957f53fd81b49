import Logging
import PostgresNIO

/// The schema of ``SQLiteMigrations`` for PostgreSQL, version by version: the same identifiers,
/// tables and column names, so one store suite and one row decoder (``StoreRow``) serve both.
/// Append-only like the SQLite list: never edit a shipped migration, add the next.
///
/// Differences of dialect only: BIGINT for SQLite's INTEGER, BYTEA for BLOB, BOOLEAN for the
/// admin flag, `lower(login)` for `COLLATE NOCASE`, and `"user"` quoted (a reserved word here).
/// Tables whose queries break ties by insertion order get a `rowid` identity column, the name of
/// the column SQLite gives every table implicitly, so those queries read the same on both engines.
enum PostgresMigrations {
    struct Migration {
        let identifier: String
        /// One statement each: the extended query protocol runs a single statement per query.
        let statements: [PostgresQuery]
    }

    static let all: [Migration] = [
        Migration(identifier: "v1-initial", statements: [
            """
            CREATE TABLE users (
                id BIGINT PRIMARY KEY,
                login TEXT NOT NULL,
                full_name TEXT NOT NULL DEFAULT '',
                email TEXT NOT NULL DEFAULT '',
                avatar_url TEXT NOT NULL DEFAULT '',
                is_admin BOOLEAN NOT NULL DEFAULT FALSE,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX users_login ON users(login)",
            """
            CREATE TABLE upstream_tokens (
                user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
                sealed TEXT NOT NULL CHECK (sealed <> ''),
                access_expires_at BIGINT,
                version BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE clients (
                client_id TEXT PRIMARY KEY,
                kind TEXT NOT NULL CHECK (kind IN ('dynamic', 'cimd')),
                secret_hash TEXT,
                name TEXT NOT NULL,
                redirect_uris TEXT NOT NULL,
                token_endpoint_auth_method TEXT NOT NULL,
                metadata_json TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                expires_at BIGINT,
                rowid BIGINT GENERATED ALWAYS AS IDENTITY
            )
            """,
            """
            CREATE TABLE grants (
                id TEXT PRIMARY KEY,
                user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                client_id TEXT NOT NULL,
                scope TEXT NOT NULL,
                resource TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                last_used_at BIGINT NOT NULL,
                revoked_at BIGINT
            )
            """,
            "CREATE UNIQUE INDEX grants_active ON grants(user_id, client_id) WHERE revoked_at IS NULL",
            """
            CREATE TABLE pending_authorizations (
                id TEXT PRIMARY KEY,
                client_id TEXT NOT NULL,
                redirect_uri TEXT NOT NULL,
                client_state TEXT,
                code_challenge TEXT NOT NULL,
                scope TEXT NOT NULL,
                resource TEXT NOT NULL,
                browser_binding_hash TEXT NOT NULL,
                upstream_state_hash TEXT UNIQUE,
                upstream_verifier_sealed TEXT,
                created_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                rowid BIGINT GENERATED ALWAYS AS IDENTITY
            )
            """,
            """
            CREATE TABLE authorization_codes (
                code_hash TEXT PRIMARY KEY,
                grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
                client_id TEXT NOT NULL,
                redirect_uri TEXT NOT NULL,
                code_challenge TEXT NOT NULL,
                resource TEXT NOT NULL,
                scope TEXT NOT NULL,
                expires_at BIGINT NOT NULL,
                used_at BIGINT
            )
            """,
            """
            CREATE TABLE access_tokens (
                token_hash TEXT PRIMARY KEY,
                grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
                client_id TEXT NOT NULL,
                user_id BIGINT NOT NULL,
                resource TEXT NOT NULL,
                scope TEXT NOT NULL,
                expires_at BIGINT NOT NULL,
                created_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX access_tokens_grant ON access_tokens(grant_id)",
            """
            CREATE TABLE refresh_tokens (
                token_hash TEXT PRIMARY KEY,
                grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
                client_id TEXT NOT NULL,
                expires_at BIGINT NOT NULL,
                created_at BIGINT NOT NULL,
                rotated_at BIGINT,
                successor_sealed TEXT
            )
            """,
            "CREATE INDEX refresh_tokens_grant ON refresh_tokens(grant_id)",
        ]),
        // Logins are looked up case-insensitively (`revoke --user Alice`).
        Migration(identifier: "v2-login-nocase", statements: [
            "DROP INDEX users_login",
            "CREATE INDEX users_login_nocase ON users(lower(login))",
        ]),
        // A rotated refresh token is honoured only until its successor is itself used.
        Migration(identifier: "v3-refresh-successor-hash", statements: [
            "ALTER TABLE refresh_tokens ADD COLUMN successor_hash TEXT",
        ]),
        // Bounding pending requests per browser and grantless clients queries these.
        Migration(identifier: "v4-abuse-bounds", statements: [
            "CREATE INDEX pending_authorizations_binding ON pending_authorizations(browser_binding_hash, created_at)",
            "CREATE INDEX pending_authorizations_client ON pending_authorizations(client_id)",
            "CREATE INDEX grants_client ON grants(client_id)",
            "CREATE INDEX clients_kind_created ON clients(kind, created_at)",
        ]),
        // Legacy session records: what resumes a session after its child is gone.
        Migration(identifier: "v5-mcp-sessions", statements: [
            """
            CREATE TABLE mcp_sessions (
                id_hash TEXT PRIMARY KEY,
                user_id BIGINT NOT NULL,
                client_id TEXT NOT NULL,
                grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
                protocol_version TEXT NOT NULL,
                initialize BYTEA NOT NULL,
                initialized BYTEA,
                log_level TEXT,
                subscriptions TEXT,
                created_at BIGINT NOT NULL,
                ended_at BIGINT,
                ended_reason TEXT,
                rowid BIGINT GENERATED ALWAYS AS IDENTITY
            )
            """,
            "CREATE INDEX mcp_sessions_user_client ON mcp_sessions(user_id, client_id, created_at)",
            "CREATE INDEX mcp_sessions_grant ON mcp_sessions(grant_id)",
        ]),
        // The audit trail (fjmcp-broker audit), append-only; logins kept as text.
        Migration(identifier: "v6-audit", statements: [
            """
            CREATE TABLE audit_records (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                time_ms BIGINT NOT NULL,
                event TEXT NOT NULL,
                "user" TEXT,
                client TEXT,
                tool TEXT,
                duration_ms BIGINT,
                outcome TEXT NOT NULL,
                request_id TEXT,
                detail TEXT
            )
            """,
            "CREATE INDEX audit_records_time ON audit_records(time_ms)",
            #"CREATE INDEX audit_records_user ON audit_records(lower("user"), time_ms)"#,
            "CREATE INDEX audit_records_client ON audit_records(client, time_ms)",
        ]),
        // A deleted token set leaves its row without a set, keeping the version (see SQLite's v7).
        Migration(identifier: "v7-upstream-token-tombstones", statements: [
            "ALTER TABLE upstream_tokens ALTER COLUMN sealed DROP NOT NULL",
        ]),
        // Replica mode: heartbeats and which replica holds each child (see SQLite's v8).
        Migration(identifier: "v8-replicas", statements: [
            """
            CREATE TABLE replicas (
                id TEXT PRIMARY KEY,
                address TEXT NOT NULL,
                started_ms BIGINT NOT NULL,
                heartbeat_ms BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE child_owners (
                key TEXT PRIMARY KEY,
                replica_id TEXT NOT NULL REFERENCES replicas(id) ON DELETE CASCADE,
                claimed_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX child_owners_replica ON child_owners(replica_id)",
        ]),
    ]

    /// Applies the missing migrations in one transaction under an advisory lock, so two brokers
    /// starting at once against a new database do not both create the tables: the second waits,
    /// then finds every migration applied.
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            try await PostgresStore.lock(.migrations, connection, logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS schema_migrations (identifier TEXT PRIMARY KEY)", logger: logger)
            let applied = Set(try await connection.rows("SELECT identifier FROM schema_migrations", logger: logger)
                .map { try $0["identifier"].decode(String.self) })
            for migration in all where !applied.contains(migration.identifier) {
                for statement in migration.statements { try await connection.query(statement, logger: logger) }
                try await connection.query("INSERT INTO schema_migrations (identifier) VALUES (\(migration.identifier))", logger: logger)
                logger.notice("database migrated", metadata: ["migration": "\(migration.identifier)"])
            }
        }
    }
}
