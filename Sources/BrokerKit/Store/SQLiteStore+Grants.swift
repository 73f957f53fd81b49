import Foundation
import GRDB

extension SQLiteStore {
    public func upsertGrant(userID: Int64, clientID: String, scope: String, resource: String, newID: String, now: Date) async throws -> GrantRecord {
        try await pool.write { db in
            if let row = try Row.fetchOne(db, sql: "SELECT * FROM grants WHERE user_id = ? AND client_id = ? AND revoked_at IS NULL",
                                          arguments: [userID, clientID]) {
                var grant = try GrantRecord(row: row)
                grant.scope = scope
                grant.resource = resource
                grant.lastUsedAt = now
                try db.execute(sql: "UPDATE grants SET scope = ?, resource = ?, last_used_at = ? WHERE id = ?",
                               arguments: [scope, resource, now.epochSeconds, grant.id])
                return grant
            }
            let grant = GrantRecord(id: newID, userID: userID, clientID: clientID, scope: scope, resource: resource,
                                    createdAt: now, lastUsedAt: now)
            try db.execute(sql: """
                INSERT INTO grants (id, user_id, client_id, scope, resource, created_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [grant.id, userID, clientID, scope, resource, now.epochSeconds, now.epochSeconds])
            return grant
        }
    }

    public func grant(id: String) async throws -> GrantRecord? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM grants WHERE id = ?", arguments: [id]).map(GrantRecord.init(row:)) }
    }

    public func activeGrants(userID: Int64) async throws -> [GrantRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM grants WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at",
                             arguments: [userID]).map(GrantRecord.init(row:))
        }
    }

    public func revokeGrant(id: String, now: Date) async throws -> Bool {
        try await pool.write { db in try Self.revoke(grantIDs: [id], db: db, now: now) > 0 }
    }

    public func revokeGrants(userID: Int64, now: Date) async throws -> [String] {
        try await pool.write { db in
            let ids = try String.fetchAll(db, sql: "SELECT id FROM grants WHERE user_id = ? AND revoked_at IS NULL", arguments: [userID])
            try Self.revoke(grantIDs: ids, db: db, now: now)
            return ids
        }
    }

    public func touchGrant(id: String, now: Date) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE grants SET last_used_at = ? WHERE id = ?", arguments: [now.epochSeconds, id])
        }
    }

    /// Revocation kills everything issued from the grant in the same transaction, so no token
    /// outlives its grant even for one request.
    @discardableResult
    private static func revoke(grantIDs: [String], db: Database, now: Date) throws -> Int {
        var revoked = 0
        for id in grantIDs {
            try db.execute(sql: "UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [now.epochSeconds, id])
            revoked += db.changesCount
            for table in ["authorization_codes", "access_tokens", "refresh_tokens"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE grant_id = ?", arguments: [id])
            }
        }
        return revoked
    }

    public func insertPendingAuthorization(_ pending: PendingAuthorizationRecord) async throws {
        try await pool.write { db in try Self.insertPending(pending, db: db) }
    }

    public func pendingAuthorization(id: String) async throws -> PendingAuthorizationRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM pending_authorizations WHERE id = ?", arguments: [id]).map(PendingAuthorizationRecord.init(row:))
        }
    }

    public func pendingAuthorization(upstreamStateHash: String) async throws -> PendingAuthorizationRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM pending_authorizations WHERE upstream_state_hash = ?",
                             arguments: [upstreamStateHash]).map(PendingAuthorizationRecord.init(row:))
        }
    }

    public func beginUpstreamLeg(pendingID: String, upstreamStateHash: String, upstreamVerifierSealed: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE pending_authorizations SET upstream_state_hash = ?, upstream_verifier_sealed = ? WHERE id = ?",
                           arguments: [upstreamStateHash, upstreamVerifierSealed, pendingID])
        }
    }

    public func takePendingAuthorization(id: String) async throws -> PendingAuthorizationRecord? {
        try await pool.write { db in
            try Row.fetchOne(db, sql: "DELETE FROM pending_authorizations WHERE id = ? RETURNING *", arguments: [id])
                .map(PendingAuthorizationRecord.init(row:))
        }
    }

    public func insertAuthorizationCode(_ code: AuthorizationCodeRecord) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO authorization_codes (code_hash, grant_id, client_id, redirect_uri, code_challenge, resource, scope, expires_at, used_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)
                """, arguments: [code.codeHash, code.grantID, code.clientID, code.redirectURI, code.codeChallenge,
                                 code.resource, code.scope, code.expiresAt.epochSeconds])
        }
    }

    public func consumeAuthorizationCode(hash: String, now: Date) async throws -> CodeConsumption {
        try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM authorization_codes WHERE code_hash = ?", arguments: [hash]) else {
                return .notFound
            }
            let record = try AuthorizationCodeRecord(row: row)
            if record.usedAt != nil { return .replayed(record) }
            try db.execute(sql: "UPDATE authorization_codes SET used_at = ? WHERE code_hash = ?", arguments: [now.epochSeconds, hash])
            var used = record
            used.usedAt = now
            return .consumed(used)
        }
    }
}
