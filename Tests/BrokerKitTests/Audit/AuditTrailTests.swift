import Foundation
import Logging
import XCTest

@testable import BrokerKit

/// The audit trail's batching writer, its file and store sinks, and its settings.
final class AuditTrailTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private var logPath: String { directory.appendingPathComponent("audit.jsonl").path }

    private func lines(_ path: String) -> [[String: Any]] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    private func call(_ n: Int, outcome: String = "ok") -> AuditRecord {
        AuditRecord(time: Date(timeIntervalSince1970: 1_800_000_000 + Double(n)), event: .toolCall, user: "alice", client: "c1",
                    tool: "echo", durationMs: n, outcome: outcome, requestID: "\(n)")
    }

    func testRecordsOnlyQueueAndOneFlushWritesTheBatchToFileAndStore() async throws {
        let store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path)
        let trail = AuditTrail(settings: AuditSettings(logPath: logPath), store: store, logger: Logger(label: "test"))
        for n in 1...3 { trail.record(call(n)) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: logPath), "recording never writes")
        await trail.flush()
        let written = lines(logPath)
        XCTAssertEqual(written.count, 3)
        XCTAssertEqual(written.first?["event"] as? String, "tool_call")
        XCTAssertEqual(written.first?["request_id"] as? String, "1")
        XCTAssertEqual(written.first?["duration_ms"] as? Int, 1)
        XCTAssertEqual(written.first?["time"] as? String, "2027-01-15T08:00:01.000Z")
        XCTAssertEqual(Set(written.first?.keys.map { $0 } ?? []), ["time", "event", "user", "client", "tool", "duration_ms", "outcome", "request_id"])
        let attributes = try FileManager.default.attributesOfItem(atPath: logPath)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let stored = try await store.auditRecords(AuditQuery())
        XCTAssertEqual(stored.map(\.requestID), ["3", "2", "1"], "newest first")
        XCTAssertEqual(stored.last, call(1))
        await trail.flush()
        XCTAssertEqual(lines(logPath).count, 3, "a flush writes each record once")
    }

    func testAFullQueueDropsNewRecordsInsteadOfBlocking() async throws {
        var options = AuditTrail.Options()
        options.capacity = 2
        let trail = AuditTrail(settings: AuditSettings(logPath: logPath, retention: .zero), store: nil, options: options,
                               logger: Logger(label: "test"))
        for n in 1...5 { trail.record(call(n)) }
        await trail.flush()
        XCTAssertEqual(lines(logPath).compactMap { $0["request_id"] as? String }, ["1", "2"])
        trail.record(call(6))
        await trail.flush()
        XCTAssertEqual(lines(logPath).count, 3, "room again after the flush")
    }

    func testNoSinkMeansNothingIsQueued() async {
        let trail = AuditTrail(settings: AuditSettings(logPath: nil, retention: .zero), store: nil, logger: Logger(label: "test"))
        XCTAssertFalse(trail.isEnabled)
        trail.record(call(1))
        await trail.flush()
    }

    func testClientChosenFieldsAreBounded() async throws {
        let trail = AuditTrail(settings: AuditSettings(logPath: logPath, retention: .zero), store: nil, logger: Logger(label: "test"))
        var long = call(1)
        long.tool = String(repeating: "t", count: 5_000)
        long.client = String(repeating: "c", count: 5_000)
        trail.record(long)
        await trail.flush()
        XCTAssertEqual((lines(logPath).first?["tool"] as? String)?.utf8.count, AuditRecord.maxFieldBytes)
        XCTAssertEqual((lines(logPath).first?["client"] as? String)?.utf8.count, AuditRecord.maxFieldBytes)
    }

    func testTheWriterFlushesOnItsIntervalAndReopensTheFileOnSIGHUP() async throws {
        try await assertReopensOnSIGHUP()
    }

    /// A second trail with a file in the same process (after the first stopped) still hears SIGHUP.
    func testASecondTrailInTheProcessStillReopensOnSIGHUP() async throws {
        try await assertReopensOnSIGHUP()
        try FileManager.default.removeItem(atPath: logPath)
        try FileManager.default.removeItem(atPath: directory.appendingPathComponent("audit.jsonl.1").path)
        try await assertReopensOnSIGHUP()
    }

    private func assertReopensOnSIGHUP() async throws {
        var options = AuditTrail.Options()
        options.flushInterval = .milliseconds(50)
        let trail = AuditTrail(settings: AuditSettings(logPath: logPath, retention: .zero), store: nil, options: options,
                               logger: Logger(label: "test"))
        let writer = Task { try await trail.run() }
        trail.record(call(1))
        let first = await eventually { self.lines(self.logPath).count == 1 }
        XCTAssertTrue(first)
        let rotated = directory.appendingPathComponent("audit.jsonl.1").path
        try FileManager.default.moveItem(atPath: logPath, toPath: rotated)
        kill(getpid(), SIGHUP)
        try await Task.sleep(for: .milliseconds(100))
        trail.record(call(2))
        let reopened = await eventually { self.lines(self.logPath).count == 1 }
        XCTAssertTrue(reopened, "after SIGHUP a new file at the configured path")
        XCTAssertEqual(lines(rotated).count, 1)
        trail.record(call(3))
        writer.cancel()
        _ = await writer.result
        XCTAssertEqual(lines(logPath).compactMap { $0["request_id"] as? String }, ["2", "3"], "what is queued at the end is written")
    }

    func testToolOutcomeReadsErrorsAndIsErrorResults() {
        XCTAssertEqual(AuditRecord.toolOutcome(of: Array(#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#.utf8)), "ok")
        XCTAssertEqual(AuditRecord.toolOutcome(of: Array(#"{"jsonrpc":"2.0","id":1,"result":{"isError":true,"content":[]}}"#.utf8)), "error")
        XCTAssertEqual(AuditRecord.toolOutcome(of: Array(#"{"jsonrpc":"2.0","id":1,"result":{"isError":false}}"#.utf8)), "ok")
        XCTAssertEqual(AuditRecord.toolOutcome(
            of: Array(#"{"jsonrpc":"2.0","id":1,"result":{"structuredContent":{"isError":true}}}"#.utf8)), "ok", "only the result's own flag")
        XCTAssertEqual(AuditRecord.toolOutcome(of: Array(#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"x"}}"#.utf8)), "error")
        XCTAssertEqual(AuditRecord.toolOutcome(of: Array("garbage".utf8)), "error")
    }

    func testStoreQueriesFilterAndMaintenancePurgesByRetention() async throws {
        let store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        try await store.insertAuditRecords([
            AuditRecord(time: now.addingTimeInterval(-100 * 86_400), event: .login, user: "Alice", client: "old", outcome: "ok"),
            AuditRecord(time: now.addingTimeInterval(-3_600), event: .consent, user: nil, client: "c1", outcome: "approved"),
            AuditRecord(time: now.addingTimeInterval(-60), event: .toolCall, user: "alice", client: "c1", tool: "echo", outcome: "ok"),
            AuditRecord(time: now.addingTimeInterval(-30), event: .revocation, user: "bob", client: "c2", outcome: "ok", detail: "client"),
        ])
        let alice = try await store.auditRecords(AuditQuery(user: "ALICE"))
        XCTAssertEqual(alice.map(\.event), [.toolCall, .login], "logins compare case-insensitively")
        let c1 = try await store.auditRecords(AuditQuery(client: "c1"))
        XCTAssertEqual(c1.map(\.event), [.toolCall, .consent])
        let recent = try await store.auditRecords(AuditQuery(since: now.addingTimeInterval(-120)))
        XCTAssertEqual(recent.map(\.event), [.revocation, .toolCall])
        let one = try await store.auditRecords(AuditQuery(limit: 1))
        XCTAssertEqual(one.map(\.event), [.revocation])

        let maintenance = StoreMaintenanceService(store: store, refreshGrace: .seconds(60), audit: (store, .seconds(90 * 86_400)),
                                                  now: { now }, logger: Logger(label: "test"))
        await maintenance.runOnce()
        let left = try await store.auditRecords(AuditQuery())
        XCTAssertEqual(left.count, 3, "the 100-day-old login is gone, the rest kept")
        XCTAssertTrue(try store.appliedMigrations().contains("v6-audit"))
    }

    func testSettingsRefuseAnUnusablePathAndABadRetention() throws {
        let missing = directory.appendingPathComponent("nope/audit.jsonl").path
        var (loaded, problems) = auditSettings(["FJMCP_AUDIT_LOG": missing])
        XCTAssertNil(loaded)
        XCTAssertEqual(problems.count, 1)
        XCTAssertTrue(problems[0].contains("does not exist"), problems[0])
        (loaded, problems) = auditSettings(["FJMCP_AUDIT_LOG": directory.path])
        XCTAssertNil(loaded)
        XCTAssertTrue(problems.first?.contains("is a directory") ?? false, "\(problems)")
        let link = directory.appendingPathComponent("link.jsonl").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: logPath)
        (loaded, problems) = auditSettings(["FJMCP_AUDIT_LOG": link])
        XCTAssertNil(loaded)
        XCTAssertTrue(problems.first?.contains("is a symbolic link") ?? false, "the broker could not open it: \(problems)")
        (loaded, problems) = auditSettings(["FJMCP_AUDIT_RETENTION": "90", "FJMCP_AUDIT_LOG": missing])
        XCTAssertNil(loaded)
        XCTAssertEqual(problems.count, 2, "both settings reported: \(problems)")
        XCTAssertTrue(problems.first?.hasPrefix("FJMCP_AUDIT_RETENTION=90 is invalid") ?? false, "\(problems)")
        (loaded, problems) = auditSettings(["FJMCP_AUDIT_LOG": " \(logPath) ", "FJMCP_AUDIT_RETENTION": "0s"])
        XCTAssertEqual(loaded, AuditSettings(logPath: logPath, retention: .zero))
        XCTAssertEqual(loaded?.storesRecords, false)
        XCTAssertEqual(problems, [])
        (loaded, problems) = auditSettings([:])
        XCTAssertEqual(loaded, AuditSettings())
        XCTAssertEqual(problems, [])
    }

    private func auditSettings(_ environment: [String: String]) -> (AuditSettings?, [String]) {
        var reader = ConfigReader(source: ConfigSource(environment: environment), problems: [])
        return (reader.auditSettings(), reader.problems)
    }

    private func eventually(_ condition: @escaping () -> Bool) async -> Bool {
        for _ in 0..<100 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }
}
