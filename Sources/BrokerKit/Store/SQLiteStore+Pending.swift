import Foundation
import GRDB

extension SQLiteStore {
    public func insertPendingAuthorization(
        _ pending: PendingAuthorizationRecord, maxPerBrowser: Int, maxTotal: Int, now: Date
    ) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM pending_authorizations WHERE expires_at <= ?", arguments: [now.epochSeconds])
            try db.execute(sql: """
                DELETE FROM pending_authorizations WHERE id IN (
                    SELECT id FROM pending_authorizations WHERE browser_binding_hash = ?
                    ORDER BY created_at DESC, rowid DESC LIMIT -1 OFFSET ?)
                """, arguments: [pending.browserBindingHash, max(maxPerBrowser - 1, 0)])
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM pending_authorizations") ?? 0
            guard total < maxTotal else { return false }
            try Self.insertPending(pending, db: db)
            return true
        }
    }

    public func pendingAuthorizationCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM pending_authorizations") ?? 0 }
    }

    static func insertPending(_ pending: PendingAuthorizationRecord, db: Database) throws {
        try db.execute(sql: """
            INSERT INTO pending_authorizations (id, client_id, redirect_uri, client_state, code_challenge, scope, resource,
                browser_binding_hash, upstream_state_hash, upstream_verifier_sealed, created_at, expires_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [pending.id, pending.clientID, pending.redirectURI, pending.clientState, pending.codeChallenge,
                             pending.scope, pending.resource, pending.browserBindingHash, pending.upstreamStateHash,
                             pending.upstreamVerifierSealed, pending.createdAt.epochSeconds, pending.expiresAt.epochSeconds])
    }
}
