import ArgumentParser
import BrokerKit
import Foundation
import Logging

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the stored audit trail, newest first: tool calls, sign-ins, consents, revocations, dead Forgejo grants.",
        discussion: "Reads the broker's database directly (no running broker needed), so it needs the broker's data directory "
            + "and OS user. Records are kept for FJMCP_AUDIT_RETENTION.\n\n" + settingsHelp
    )

    @Option(name: .customLong("user"), help: "Only this Forgejo login (case-insensitive).")
    var login: String?

    @Option(name: .customLong("client"), help: "Only this client id.")
    var client: String?

    @Option(name: .customLong("since"), help: "Only records younger than this, e.g. 24h, 30m, 7d.")
    var since: String?

    @Option(name: .customLong("limit"), help: "At most this many records (1 to 100000).")
    var limit = 100

    @Flag(name: .customLong("json"), help: "One JSON object per line (the FJMCP_AUDIT_LOG format) instead of a table.")
    var json = false

    @OptionGroup var settings: SettingFlags

    func run() async throws {
        let config = try loadConfig(settings.source(), requireUpstream: false)
        var query = AuditQuery(user: login, client: client, limit: limit)
        guard (1...100_000).contains(limit) else { throw fail("--limit must be between 1 and 100000", status: ExitStatus.badConfiguration) }
        if let since {
            guard let age = Duration(configValue: since) else {
                throw fail("--since \(since) is invalid: expected a duration such as 24h, 30m or 7d", status: ExitStatus.badConfiguration)
            }
            query.since = Date().addingTimeInterval(-TimeInterval(age.components.seconds))
        }
        // Opening a SQLite store creates the file: a mistyped data directory must not read as an empty trail.
        if case .sqlite(let path) = config.database, !FileManager.default.fileExists(atPath: path) {
            throw fail("no database at \(path): is FJMCP_DATA_DIR (or FJMCP_DATABASE_URL) the broker's?")
        }
        let store: any StoreEngine
        do {
            store = try await config.database.open(logger: Logger(label: "fjmcp-broker"))
        } catch {
            throw fail("cannot read the audit trail: \(error)")
        }
        let records: [AuditRecord]
        do {
            records = try await store.auditRecords(query)
            await store.shutdown()
        } catch {
            await store.shutdown()
            throw fail("cannot read the audit trail: \(error)")
        }
        if json {
            for record in records { FileHandle.standardOutput.write(Data(record.jsonLine)) }
            return
        }
        let rows = records.map { record in
            [record.time.formatted(Date.ISO8601FormatStyle()), record.event.rawValue, record.user ?? "-", record.client ?? "-",
             record.tool ?? "-", record.durationMs.map { "\($0)ms" } ?? "-", record.outcome, record.requestID ?? "-", record.detail ?? "-"]
        }
        let header = ["TIME", "EVENT", "USER", "CLIENT", "TOOL", "DURATION", "OUTCOME", "REQUEST_ID", "DETAIL"]
        for line in Sessions.table(header: header, rows: rows) { print(line) }
    }
}
