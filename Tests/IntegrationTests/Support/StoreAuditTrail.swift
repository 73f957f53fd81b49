import BrokerKit
import Foundation
import Logging

/// An audit trail that writes to a store of its own, flushed every 50 ms, for tests that check
/// the records an endpoint writes (read back with a query, no file to parse).
struct StoreAuditTrail {
    let trail: AuditTrail
    let store: SQLiteStore
    private let directory: String
    private let writer: Task<Void, any Error>

    static func start() throws -> StoreAuditTrail {
        let directory = NSTemporaryDirectory() + "store-audit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: directory + "/audit.sqlite")
        var options = AuditTrail.Options()
        options.flushInterval = .milliseconds(50)
        let trail = AuditTrail(settings: AuditSettings(), store: store, options: options, logger: Logger(label: "audit"))
        let writer = Task { try await trail.run() }
        return StoreAuditTrail(trail: trail, store: store, directory: directory, writer: writer)
    }

    /// The records written so far that `matching` selects.
    func records(_ matching: (AuditRecord) -> Bool) async -> [AuditRecord] {
        ((try? await store.auditRecords(AuditQuery())) ?? []).filter(matching)
    }

    func stop() {
        writer.cancel()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
