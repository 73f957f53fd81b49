import Foundation
import GRDB

/// Legacy session records: a session outlives its child (restart, idle reap, crash), so what
/// it takes to resume it lives here. Written when a session opens, when the client's handshake
/// or replayable state changes (`notifications/initialized`, `logging/setLevel`,
/// `resources/subscribe`), and when it ends; never per request.
extension SQLiteStore {
    public func insertSession(_ session: SessionRecord) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO mcp_sessions (id_hash, user_id, client_id, grant_id, protocol_version, initialize, initialized,
                                          log_level, subscriptions, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [session.idHash, session.userID, session.clientID, session.grantID, session.protocolVersion,
                                 Data(session.initialize), session.initialized.map { Data($0) }, session.logLevel,
                                 SessionRecord.encode(session.subscriptions), session.createdAt.epochSeconds])
        }
    }

    /// The record if the session was not ended and its grant is still live.
    public func liveSession(idHash: String) async throws -> SessionRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT s.* FROM mcp_sessions s JOIN grants g ON g.id = s.grant_id
                WHERE s.id_hash = ? AND s.ended_at IS NULL AND g.revoked_at IS NULL
                """, arguments: [idHash]).map(SessionRecord.init(row:))
        }
    }

    public func liveSessions() async throws -> [SessionRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT s.* FROM mcp_sessions s JOIN grants g ON g.id = s.grant_id
                WHERE s.ended_at IS NULL AND g.revoked_at IS NULL ORDER BY s.created_at, s.id_hash
                """).map(SessionRecord.init(row:))
        }
    }

    public func updateSessionState(idHash: String, initialized: [UInt8]?, logLevel: String?, subscriptions: [String]) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE mcp_sessions SET initialized = ?, log_level = ?, subscriptions = ? WHERE id_hash = ?",
                           arguments: [initialized.map { Data($0) }, logLevel, SessionRecord.encode(subscriptions), idHash])
        }
    }

    public func endSession(idHash: String, reason: String, now: Date) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE mcp_sessions SET ended_at = ?, ended_reason = ? WHERE id_hash = ? AND ended_at IS NULL",
                           arguments: [now.epochSeconds, reason, idHash])
        }
    }

    /// Ends every session of a user, or of one client of the user.
    public func endSessions(userID: Int64, clientID: String?, reason: String, now: Date) async throws {
        try await pool.write { db in
            if let clientID {
                try db.execute(sql: """
                    UPDATE mcp_sessions SET ended_at = ?, ended_reason = ? WHERE user_id = ? AND client_id = ? AND ended_at IS NULL
                    """, arguments: [now.epochSeconds, reason, userID, clientID])
            } else {
                try db.execute(sql: "UPDATE mcp_sessions SET ended_at = ?, ended_reason = ? WHERE user_id = ? AND ended_at IS NULL",
                               arguments: [now.epochSeconds, reason, userID])
            }
        }
    }

    /// The `initialize` a client of a user sent most recently (its declared capabilities).
    public func latestInitialize(userID: Int64, clientID: String) async throws -> [UInt8]? {
        try await pool.read { db in
            try Data.fetchOne(db, sql: """
                SELECT initialize FROM mcp_sessions WHERE user_id = ? AND client_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1
                """, arguments: [userID, clientID]).map { Array($0) }
        }
    }
}
