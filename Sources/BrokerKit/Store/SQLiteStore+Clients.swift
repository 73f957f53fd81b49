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

    private static func writeClient(_ client: ClientRecord, db: Database, upsert: Bool) throws {
        let uris = String(decoding: (try? JSONEncoder().encode(client.redirectURIs)) ?? Data("[]".utf8), as: UTF8.self)
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

extension ClientRecord {
    init?(row: Row) {
        guard let kind = ClientKind(rawValue: row["kind"]),
              let uris = try? JSONDecoder().decode([String].self, from: Data((row["redirect_uris"] as String).utf8))
        else { return nil }
        self.init(clientID: row["client_id"], kind: kind, secretHash: row["secret_hash"], name: row["name"],
                  redirectURIs: uris, tokenEndpointAuthMethod: row["token_endpoint_auth_method"],
                  metadataJSON: row["metadata_json"], createdAt: Date(epochSeconds: row["created_at"]),
                  expiresAt: (row["expires_at"] as Int64?).map(Date.init(epochSeconds:)))
    }
}
