import ArgumentParser
import AsyncHTTPClient
import BrokerKit
import Foundation
import NIOCore
import NIOHTTP1

struct Sessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the running broker's children: legacy sessions and users' shared children (kind, user, clients, age, idle, busy, child pid, Forgejo token expiry); in replica mode every replica's sessions and children, from the database, each with the replica holding it, and every replica's last beat.",
        discussion: "Talks to <data dir>/admin.sock, so it needs the broker's data directory and OS user.\n\n" + settingsHelp
    )

    @OptionGroup var settings: SettingFlags

    func run() async throws {
        let config = try loadConfig(settings.source(), requireUpstream: false)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        // The running broker, not this command's settings, says whether replica mode is on.
        guard let body = try await AdminClient.sendIfServed(.GET, "/replicas", dataDirectory: config.dataDirectory) else {
            let body = try await AdminClient.send(.GET, "/sessions", dataDirectory: config.dataDirectory)
            let sessions = try decoder.decode([ChildSummary].self, from: body)
            for line in Self.table(header: ChildSummary.tableHeader, rows: sessions.map(\.tableRow)) { print(line) }
            return
        }
        // Replica mode: every replica's sessions and children from the store, each with the
        // replica holding it, then every replica.
        let listing = try decoder.decode(AdminReplicaListing.self, from: body)
        for line in Self.table(header: AdminReplicaListing.childHeader, rows: listing.childRows) { print(line) }
        print("")
        for line in Self.table(header: AdminReplicaListing.replicaHeader, rows: listing.replicaRows(now: Date())) { print(line) }
    }

    /// Left-aligned columns as wide as their widest cell. Cells hold client-chosen text, so
    /// control and bidi characters are shown escaped, never sent to the terminal.
    static func table(header: [String], rows: [[String]]) -> [String] {
        let all = ([header] + rows).map { $0.map(TerminalText.escaped) }
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
    }
}

struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "End a user's sessions, revoke their grants and forget their Forgejo tokens in the running broker.",
        discussion: "Talks to <data dir>/admin.sock, so it needs the broker's data directory and OS user.\n\n" + settingsHelp
    )

    @Option(name: .customLong("user"), help: "The Forgejo login to revoke.")
    var login: String

    @OptionGroup var settings: SettingFlags

    func run() async throws {
        let config = try loadConfig(settings.source(), requireUpstream: false)
        let path = "/users/" + (login.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? login) + "/revoke"
        let body = try await AdminClient.send(.POST, path, dataDirectory: config.dataDirectory)
        let result = try JSONDecoder().decode(AdminRevocation.self, from: body)
        print("revoked \(result.user): \(result.sessionsEnded) session(s) and \(result.userChildrenEnded) user child(ren) ended, "
            + "\(result.grantsRevoked) grant(s) revoked, Forgejo tokens forgotten")
    }
}

/// HTTP over the running broker's admin socket.
enum AdminClient {
    static func send(_ method: HTTPMethod, _ path: String, dataDirectory: String) async throws -> Data {
        let (status, body) = try await exchange(method, path, dataDirectory: dataDirectory)
        guard status == .ok else { throw refusal(status, body) }
        return body
    }

    /// nil when the running broker does not serve `path` (404): a route of a mode it is not in,
    /// or one an older broker does not have.
    static func sendIfServed(_ method: HTTPMethod, _ path: String, dataDirectory: String) async throws -> Data? {
        let (status, body) = try await exchange(method, path, dataDirectory: dataDirectory)
        if status == .notFound { return nil }
        guard status == .ok else { throw refusal(status, body) }
        return body
    }

    private static func refusal(_ status: HTTPResponseStatus, _ body: Data) -> ExitCode {
        fail("the broker answered \(status.code): \(String(decoding: body, as: UTF8.self))")
    }

    private static func exchange(_ method: HTTPMethod, _ path: String, dataDirectory: String) async throws -> (HTTPResponseStatus, Data) {
        let socket = AdminServer.socketPath(dataDirectory: dataDirectory)
        guard FileManager.default.fileExists(atPath: socket) else {
            throw fail("no admin socket at \(socket): is the broker running with this data directory?")
        }
        let host = socket.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? socket
        var request = HTTPClientRequest(url: "http+unix://\(host)\(path)")
        request.method = method
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            let body = Data(buffer: try await response.body.collect(upTo: 16 << 20))
            try await client.shutdown()
            return (response.status, body)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            try? await client.shutdown()
            throw fail("cannot reach the broker at \(socket): \(error)")
        }
    }
}
