import Foundation
import PostgresNIO

/// Legacy session records (see ``SQLiteStore``'s extension for when they are written), and the
/// audit trail's table.
extension PostgresStore: AuditStore {
    public func insertSession(_ session: SessionRecord) async throws {
        try await rows("""
            INSERT INTO mcp_sessions (id_hash, user_id, client_id, grant_id, protocol_version, initialize, initialized,
                                      log_level, subscriptions, created_at)
            VALUES (\(session.idHash), \(session.userID), \(session.clientID), \(session.grantID), \(session.protocolVersion),
                    \(Data(session.initialize)), \(session.initialized.map { Data($0) }), \(session.logLevel),
                    \(SessionRecord.encode(session.subscriptions)), \(session.createdAt.epochSeconds))
            """)
    }

    public func liveSession(idHash: String) async throws -> SessionRecord? {
        try await rows("""
            SELECT s.* FROM mcp_sessions s JOIN grants g ON g.id = s.grant_id
            WHERE s.id_hash = \(idHash) AND s.ended_at IS NULL AND g.revoked_at IS NULL
            """).first.map(SessionRecord.init(row:))
    }

    public func liveSessions() async throws -> [SessionRecord] {
        try await rows("""
            SELECT s.* FROM mcp_sessions s JOIN grants g ON g.id = s.grant_id
            WHERE s.ended_at IS NULL AND g.revoked_at IS NULL ORDER BY s.created_at, s.id_hash
            """).map(SessionRecord.init(row:))
    }

    public func updateSessionState(idHash: String, initialized: [UInt8]?, logLevel: String?, subscriptions: [String]) async throws {
        try await rows("""
            UPDATE mcp_sessions SET initialized = \(initialized.map { Data($0) }), log_level = \(logLevel),
                subscriptions = \(SessionRecord.encode(subscriptions))
            WHERE id_hash = \(idHash)
            """)
    }

    public func endSession(idHash: String, reason: String, now: Date) async throws {
        try await rows("""
            UPDATE mcp_sessions SET ended_at = \(now.epochSeconds), ended_reason = \(reason) WHERE id_hash = \(idHash) AND ended_at IS NULL
            """)
    }

    /// Ends every session of a user, or of one client of the user (a NULL client matches all).
    public func endSessions(userID: Int64, clientID: String?, reason: String, now: Date) async throws {
        try await rows("""
            UPDATE mcp_sessions SET ended_at = \(now.epochSeconds), ended_reason = \(reason)
            WHERE user_id = \(userID) AND (\(clientID)::text IS NULL OR client_id = \(clientID)) AND ended_at IS NULL
            """)
    }

    public func latestInitialize(userID: Int64, clientID: String) async throws -> [UInt8]? {
        let data: Data? = try await rows("""
            SELECT initialize FROM mcp_sessions WHERE user_id = \(userID) AND client_id = \(clientID)
            ORDER BY created_at DESC, rowid DESC LIMIT 1
            """).first?.column("initialize")
        return data.map { Array($0) }
    }

    // MARK: Audit trail

    /// The whole batch in one transaction, as on SQLite. PostgreSQL text cannot hold U+0000
    /// (SQLite's can): the texts a client chose (a tool name, a client id) have it replaced, or one
    /// such call would fail the batch and lose every user's records of that flush.
    public func insertAuditRecords(_ records: [AuditRecord]) async throws {
        guard !records.isEmpty else { return }
        let logger = self.logger
        try await transaction { connection in
            for record in records {
                try await connection.query(#"""
                    INSERT INTO audit_records (time_ms, event, "user", client, tool, duration_ms, outcome, request_id, detail)
                    VALUES (\#(record.time.epochMilliseconds), \#(record.event.rawValue), \#(record.user.map(storable)),
                            \#(record.client.map(storable)), \#(record.tool.map(storable)), \#(record.durationMs),
                            \#(storable(record.outcome)), \#(record.requestID.map(storable)), \#(record.detail.map(storable)))
                    """#, logger: logger)
            }
        }
    }

    public func auditRecords(_ query: AuditQuery) async throws -> [AuditRecord] {
        let since = query.since?.epochMilliseconds
        return try await rows(#"""
            SELECT * FROM audit_records
            WHERE (\#(query.user)::text IS NULL OR lower("user") = lower(\#(query.user)))
              AND (\#(query.client)::text IS NULL OR client = \#(query.client))
              AND (\#(since)::bigint IS NULL OR time_ms >= \#(since))
            ORDER BY time_ms DESC, id DESC LIMIT \#(max(0, query.limit))
            """#).compactMap(AuditRecord.init(row:))
    }

    public func deleteAuditRecords(before: Date) async throws -> Int {
        try await rows("DELETE FROM audit_records WHERE time_ms < \(before.epochMilliseconds) RETURNING 1").count
    }
}

/// `text` as PostgreSQL can store it: U+0000 becomes U+FFFD (the replacement character).
private func storable(_ text: String) -> String {
    text.contains("\u{0}") ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text
}
