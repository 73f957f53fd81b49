import Foundation
import GRDB

/// The audit trail's table. Written in batches by ``AuditTrail``'s writer (one transaction per
/// batch), read by `fjmcp-broker audit`, purged by the maintenance service.
extension SQLiteStore: AuditStore {
    public func insertAuditRecords(_ records: [AuditRecord]) async throws {
        guard !records.isEmpty else { return }
        try await pool.write { db in
            let statement = try db.makeStatement(sql: """
                INSERT INTO audit_records (time_ms, event, user, client, tool, duration_ms, outcome, request_id, detail)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for record in records {
                try statement.execute(arguments: [
                    record.time.epochMilliseconds, record.event.rawValue, record.user, record.client,
                    record.tool, record.durationMs, record.outcome, record.requestID, record.detail,
                ])
            }
        }
    }

    public func auditRecords(_ query: AuditQuery) async throws -> [AuditRecord] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let user = query.user {
            conditions.append("user = ? COLLATE NOCASE")
            _ = arguments.append(contentsOf: [user])
        }
        if let client = query.client {
            conditions.append("client = ?")
            _ = arguments.append(contentsOf: [client])
        }
        if let since = query.since {
            conditions.append("time_ms >= ?")
            _ = arguments.append(contentsOf: [since.epochMilliseconds])
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        _ = arguments.append(contentsOf: [max(0, query.limit)])
        let sql = "SELECT * FROM audit_records \(filter) ORDER BY time_ms DESC, id DESC LIMIT ?"
        let bound = arguments
        return try await pool.read { db in
            try Row.fetchAll(db, sql: sql, arguments: bound).compactMap(AuditRecord.init(row:))
        }
    }

    public func deleteAuditRecords(before: Date) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM audit_records WHERE time_ms < ?",
                           arguments: [before.epochMilliseconds])
            return db.changesCount
        }
    }
}
