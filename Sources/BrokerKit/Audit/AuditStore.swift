import Foundation

/// Where audit records are kept for `fjmcp-broker audit`. Separate from ``BrokerStore``: the
/// trail is written by one batching writer and read by an operator, never by request paths.
public protocol AuditStore: Sendable {
    /// Appends the records in one transaction.
    func insertAuditRecords(_ records: [AuditRecord]) async throws
    /// Newest first.
    func auditRecords(_ query: AuditQuery) async throws -> [AuditRecord]
    /// Deletes records older than `before`; returns how many.
    func deleteAuditRecords(before: Date) async throws -> Int
}

/// `fjmcp-broker audit` filters. Logins compare case-insensitively, client ids exactly.
public struct AuditQuery: Sendable, Equatable {
    public var user: String?
    public var client: String?
    public var since: Date?
    public var limit: Int

    public init(user: String? = nil, client: String? = nil, since: Date? = nil, limit: Int = 100) {
        self.user = user
        self.client = client
        self.since = since
        self.limit = limit
    }
}
