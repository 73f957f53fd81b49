import Foundation
import GRDB

extension SQLiteStore {
    public func insertClient(_ client: ClientRecord) async throws {
        try await pool.write { db in try Self.writeClient(client, db: db, upsert: false) }
    }

    public func upsertClient(_ client: ClientRecord) async throws {
        try await pool.write { db in try Self.writeClient(client, db: db, upsert: true) }
    }

    public func client(id: String) async throws -> ClientRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM clients WHERE client_id = ?", arguments: [id]).flatMap(ClientRecord.init(row:))
        }
    }

    public func clientCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM clients") ?? 0 }
    }

    public func insertClient(_ client: ClientRecord, maxGrantless: Int) async throws -> Int {
        try await pool.write { db in
            try Self.writeClient(client, db: db, upsert: false)
            let grantless = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM clients c WHERE kind = 'dynamic' AND \(Self.noGrant)") ?? 0
            guard grantless > maxGrantless else { return 0 }
            try db.execute(sql: """
                DELETE FROM clients WHERE client_id IN (
                    SELECT client_id FROM clients c WHERE kind = 'dynamic' AND \(Self.noGrant) AND client_id <> ?
                    ORDER BY EXISTS (SELECT 1 FROM pending_authorizations p WHERE p.client_id = c.client_id), created_at, rowid
                    LIMIT ?)
                """, arguments: [client.clientID, grantless - maxGrantless])
            return db.changesCount
        }
    }

    public func deleteGrantlessClients(createdBefore: Date) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: """
                DELETE FROM clients AS c WHERE kind = 'dynamic' AND created_at <= ? AND \(Self.noGrant)
                  AND NOT EXISTS (SELECT 1 FROM pending_authorizations p WHERE p.client_id = c.client_id)
                """, arguments: [createdBefore.epochSeconds])
            return db.changesCount
        }
    }

    /// SQL condition: the client `c` never obtained a grant (revoked ones count as obtained).
    private static let noGrant = "NOT EXISTS (SELECT 1 FROM grants g WHERE g.client_id = c.client_id)"

    private static func writeClient(_ client: ClientRecord, db: Database, upsert: Bool) throws {
        let uris = client.redirectURIsJSON
        try db.execute(sql: """
            INSERT INTO clients (client_id, kind, secret_hash, name, redirect_uris, token_endpoint_auth_method,
                                 metadata_json, created_at, expires_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """ + (upsert ? """
            ON CONFLICT(client_id) DO UPDATE SET kind = excluded.kind, secret_hash = excluded.secret_hash,
                name = excluded.name, redirect_uris = excluded.redirect_uris,
                token_endpoint_auth_method = excluded.token_endpoint_auth_method,
                metadata_json = excluded.metadata_json, expires_at = excluded.expires_at
            """ : ""),
            arguments: [client.clientID, client.kind.rawValue, client.secretHash, client.name, uris,
                        client.tokenEndpointAuthMethod, client.metadataJSON, client.createdAt.epochSeconds,
                        client.expiresAt?.epochSeconds])
    }
}
