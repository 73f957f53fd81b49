import GRDB

/// Versioned schema. Migrations are append-only: never edit a shipped one, add the next.
enum SQLiteMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-initial") { db in
            try db.execute(sql: """
                CREATE TABLE users (
                    id INTEGER PRIMARY KEY,
                    login TEXT NOT NULL,
                    full_name TEXT NOT NULL DEFAULT '',
                    email TEXT NOT NULL DEFAULT '',
                    avatar_url TEXT NOT NULL DEFAULT '',
                    is_admin INTEGER NOT NULL DEFAULT 0,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE INDEX users_login ON users(login);

                CREATE TABLE upstream_tokens (
                    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
                    sealed TEXT NOT NULL CHECK (sealed <> ''),
                    access_expires_at INTEGER,
                    version INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );

                CREATE TABLE clients (
                    client_id TEXT PRIMARY KEY,
                    kind TEXT NOT NULL CHECK (kind IN ('dynamic', 'cimd')),
                    secret_hash TEXT,
                    name TEXT NOT NULL,
                    redirect_uris TEXT NOT NULL,
                    token_endpoint_auth_method TEXT NOT NULL,
                    metadata_json TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER
                );

                CREATE TABLE grants (
                    id TEXT PRIMARY KEY,
                    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    client_id TEXT NOT NULL,
                    scope TEXT NOT NULL,
                    resource TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    last_used_at INTEGER NOT NULL,
                    revoked_at INTEGER
                );
                CREATE UNIQUE INDEX grants_active ON grants(user_id, client_id) WHERE revoked_at IS NULL;

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
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL
                );

                CREATE TABLE authorization_codes (
                    code_hash TEXT PRIMARY KEY,
                    grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
                    client_id TEXT NOT NULL,
                    redirect_uri TEXT NOT NULL,
                    code_challenge TEXT NOT NULL,
                    resource TEXT NOT NULL,
                    scope TEXT NOT NULL,
                    expires_at INTEGER NOT NULL,
                    used_at INTEGER
                );

                CREATE TABLE access_tokens (
                    token_hash TEXT PRIMARY KEY,
                    grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
                    client_id TEXT NOT NULL,
                    user_id INTEGER NOT NULL,
                    resource TEXT NOT NULL,
                    scope TEXT NOT NULL,
                    expires_at INTEGER NOT NULL,
                    created_at INTEGER NOT NULL
                );
                CREATE INDEX access_tokens_grant ON access_tokens(grant_id);

                CREATE TABLE refresh_tokens (
                    token_hash TEXT PRIMARY KEY,
                    grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
                    client_id TEXT NOT NULL,
                    expires_at INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    rotated_at INTEGER,
                    successor_sealed TEXT
                );
                CREATE INDEX refresh_tokens_grant ON refresh_tokens(grant_id);
                """)
        }
        migrator.registerMigration("v2-login-nocase") { db in
            // Logins are looked up case-insensitively (`revoke --user Alice`); an index with the
            // default BINARY collation cannot serve `= ? COLLATE NOCASE`.
            try db.execute(sql: """
                DROP INDEX users_login;
                CREATE INDEX users_login_nocase ON users(login COLLATE NOCASE);
                """)
        }
        migrator.registerMigration("v3-refresh-successor-hash") { db in
            // A rotated refresh token is honoured only until its successor is itself used: the
            // link to the successor tells the token endpoint whether that happened.
            try db.execute(sql: "ALTER TABLE refresh_tokens ADD COLUMN successor_hash TEXT")
        }
        migrator.registerMigration("v4-abuse-bounds") { db in
            // Bounding pending requests per browser and grantless clients queries these.
            try db.execute(sql: """
                CREATE INDEX pending_authorizations_binding ON pending_authorizations(browser_binding_hash, created_at);
                CREATE INDEX pending_authorizations_client ON pending_authorizations(client_id);
                CREATE INDEX grants_client ON grants(client_id);
                CREATE INDEX clients_kind_created ON clients(kind, created_at);
                """)
        }
        migrator.registerMigration("v5-mcp-sessions") { db in
            // Legacy sessions outlive their children (restart, idle reap, crash): the record is
            // what resumes one. It dies with its grant (revocation purges it after retention).
            try db.execute(sql: """
                CREATE TABLE mcp_sessions (
                    id_hash TEXT PRIMARY KEY,
                    user_id INTEGER NOT NULL,
                    client_id TEXT NOT NULL,
                    grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
                    protocol_version TEXT NOT NULL,
                    initialize BLOB NOT NULL,
                    initialized BLOB,
                    log_level TEXT,
                    subscriptions TEXT,
                    created_at INTEGER NOT NULL,
                    ended_at INTEGER,
                    ended_reason TEXT
                );
                CREATE INDEX mcp_sessions_user_client ON mcp_sessions(user_id, client_id, created_at);
                CREATE INDEX mcp_sessions_grant ON mcp_sessions(grant_id);
                """)
        }
        migrator.registerMigration("v6-audit") { db in
            // The audit trail (fjmcp-broker audit): append-only, read newest first by user,
            // client or time, purged after FJMCP_AUDIT_RETENTION. Logins are kept as text, not
            // as user ids: a record must still name the user after the user row is gone.
            try db.execute(sql: """
                CREATE TABLE audit_records (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    time_ms INTEGER NOT NULL,
                    event TEXT NOT NULL,
                    user TEXT,
                    client TEXT,
                    tool TEXT,
                    duration_ms INTEGER,
                    outcome TEXT NOT NULL,
                    request_id TEXT,
                    detail TEXT
                );
                CREATE INDEX audit_records_time ON audit_records(time_ms);
                CREATE INDEX audit_records_user ON audit_records(user COLLATE NOCASE, time_ms);
                CREATE INDEX audit_records_client ON audit_records(client, time_ms);
                """)
        }
        migrator.registerMigration("v7-upstream-token-tombstones") { db in
            // A deleted token set leaves its row without a set (sealed NULL), keeping the version,
            // so the next login's set gets a later version than any read before the delete and a
            // refresh or verdict about the old lineage cannot act on it (see BrokerStore). SQLite
            // cannot drop a NOT NULL constraint in place: the table is rebuilt (GRDB defers
            // foreign-key checks to the end of the migration).
            try db.execute(sql: """
                CREATE TABLE upstream_tokens_v7 (
                    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
                    sealed TEXT CHECK (sealed <> ''),
                    access_expires_at INTEGER,
                    version INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                INSERT INTO upstream_tokens_v7 (user_id, sealed, access_expires_at, version, updated_at)
                    SELECT user_id, sealed, access_expires_at, version, updated_at FROM upstream_tokens;
                DROP TABLE upstream_tokens;
                ALTER TABLE upstream_tokens_v7 RENAME TO upstream_tokens;
                """)
        }
        migrator.registerMigration("v8-replicas") { db in
            // Replica mode (ReplicaStore): which brokers beat, and which of them holds each child.
            // A claim references its replica's row: removing a replica (a clean stop) drops its
            // claims in the same statement, and a claim never outlives the row that says whether
            // its holder is alive. Every replica writes its row (its first beat) before it claims.
            // Times in epoch milliseconds (`_ms`): a lapse of a second or two must not be rounded.
            try db.execute(sql: """
                CREATE TABLE replicas (
                    id TEXT PRIMARY KEY,
                    address TEXT NOT NULL,
                    started_ms INTEGER NOT NULL,
                    heartbeat_ms INTEGER NOT NULL
                );
                CREATE TABLE child_owners (
                    key TEXT PRIMARY KEY,
                    replica_id TEXT NOT NULL REFERENCES replicas(id) ON DELETE CASCADE,
                    claimed_ms INTEGER NOT NULL
                );
                CREATE INDEX child_owners_replica ON child_owners(replica_id);
                """)
        }
        return migrator
    }
}
