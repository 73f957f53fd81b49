import AsyncHTTPClient
import BrokerKit
import Foundation
import XCTest

/// The built `fjmcp-broker serve` with a tool policy and an audit log: the policy holds on both
/// eras, and one client's whole flow (sign-in, consent, an allowed call, calls refused by the
/// policy, revocation) is in the audit file and in `fjmcp-broker audit`, without a token or a
/// tool argument anywhere.
final class PolicyAuditBinaryTests: XCTestCase {
    private var broker: ServedBroker?
    private var auditDirectory = NSTemporaryDirectory() + "fjmcp-audit-" + UUID().uuidString

    override func tearDown() async throws {
        await broker?.shutdown()
        try? FileManager.default.removeItem(atPath: auditDirectory)
    }

    private func records(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    private func names(_ reply: MCPReply) -> [String] { reply.toolNames }

    /// The audit file's records once at least `count` are there (the writer flushes each second).
    private func auditRecords(_ path: String, atLeast count: Int) async -> [[String: Any]] {
        _ = await eventually { self.records((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").count >= count }
        return records((try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
    }

    func testPolicyOnBothErasAndTheAuditTrailOfOneFlow() async throws {
        try FileManager.default.createDirectory(atPath: auditDirectory, withIntermediateDirectories: true)
        let auditLog = auditDirectory + "/audit.jsonl"
        let served = try await ServedBroker.start(environment: [
            "FJMCP_READ_ONLY": "true", "FJMCP_TOOLS_DENY": "echo", "FJMCP_AUDIT_LOG": auditLog,
        ])
        broker = served
        var (client, tokens) = try await served.client()
        _ = try await client.initialize()

        let legacyList = try await client.call(id: 1, method: "tools/list")
        XCTAssertEqual(names(legacyList), ["whoami"], legacyList.body)
        let allowed = try await client.tool(id: 2, "whoami")
        XCTAssertEqual(allowed.structured?["login"] as? String, "alice", allowed.body)
        let crash = try await client.tool(id: 3, "crash", ["code": 9])
        XCTAssertEqual(crash.errorCode, -32602, crash.body)
        XCTAssertEqual((crash.error?["data"] as? [String: Any])?["policy"] as? String, "FJMCP_READ_ONLY")

        let modernList = try await client.modern(id: 4, method: "tools/list")
        XCTAssertEqual(names(modernList), ["whoami"], modernList.body)
        let echo = try await client.modern(id: "m-5", method: "tools/call", params: ["name": "echo", "arguments": ["text": "secret-argument"]])
        XCTAssertEqual((echo.error?["data"] as? [String: Any])?["policy"] as? String, "FJMCP_TOOLS_DENY", echo.body)
        let modernWhoami = try await client.modern(id: 6, method: "tools/call", params: ["name": "whoami", "arguments": [:]])
        XCTAssertEqual(modernWhoami.structured?["login"] as? String, "alice", modernWhoami.body)

        let revoked = try await MCPLogin.send(served.baseURL + "/oauth/revoke", httpClient: served.httpClient, form: [
            ("token", tokens.accessToken), ("client_id", tokens.clientID),
        ])
        XCTAssertEqual(revoked.status, 200, revoked.body)

        let lines = await auditRecords(auditLog, atLeast: 7)
        let text = (try? String(contentsOfFile: auditLog, encoding: .utf8)) ?? ""
        XCTAssertGreaterThanOrEqual(lines.count, 7, text)
        func find(_ event: String, _ outcome: String, tool: String? = nil) -> [String: Any]? {
            lines.first { $0["event"] as? String == event && $0["outcome"] as? String == outcome && (tool == nil || $0["tool"] as? String == tool) }
        }
        XCTAssertEqual(find("consent", "approved")?["client"] as? String, tokens.clientID, text)
        XCTAssertEqual(find("login", "ok")?["user"] as? String, "alice", text)
        let ok = lines.filter { $0["event"] as? String == "tool_call" && $0["outcome"] as? String == "ok" }
        XCTAssertEqual(ok.compactMap { $0["request_id"] as? String }.sorted(), ["2", "6"], text)
        XCTAssertTrue(ok.allSatisfy { $0["user"] as? String == "alice" && $0["client"] as? String == tokens.clientID && $0["duration_ms"] is Int })
        XCTAssertEqual(find("tool_call", "policy_refused", tool: "crash")?["detail"] as? String, "FJMCP_READ_ONLY", text)
        XCTAssertEqual(find("tool_call", "policy_refused", tool: "echo")?["request_id"] as? String, "\"m-5\"", text)
        XCTAssertEqual(find("revocation", "ok")?["user"] as? String, "alice", text)
        XCTAssertEqual(find("revocation", "ok")?["detail"] as? String, "grant", text)
        XCTAssertEqual(find("revocation", "ok")?["client"] as? String, tokens.clientID, text)
        XCTAssertEqual(lines.filter { $0["event"] as? String == "tool_call" }.count, 4, "tools/list is no tool call: \(text)")
        for secret in [tokens.accessToken, tokens.refreshToken ?? "-", "secret-argument", "arguments"] {
            XCTAssertFalse(text.contains(secret), "the audit log holds \(secret)")
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: auditLog)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)

        // The same trail from the store, through the CLI.
        let json = try await served.admin(["audit", "--user", "ALICE", "--since", "1h", "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let stored = records(json.stdout)
        XCTAssertEqual(Set(stored.compactMap { $0["event"] as? String }), ["login", "tool_call", "revocation"], json.stdout)
        XCTAssertEqual(stored.first?["event"] as? String, "revocation", "newest first")
        let table = try await served.admin(["audit", "--client", tokens.clientID, "--limit", "3"])
        XCTAssertEqual(table.status, 0, table.stderr)
        let rows = table.stdout.split(separator: "\n")
        XCTAssertEqual(rows.count, 4, table.stdout)
        XCTAssertTrue(rows.first?.hasPrefix("TIME") ?? false, table.stdout)
        XCTAssertTrue(table.stdout.contains("policy_refused") && table.stdout.contains("FJMCP_TOOLS_DENY"), table.stdout)
        let bad = try await served.admin(["audit", "--since", "yesterday"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("--since yesterday is invalid"), bad.stderr)
    }

    func testCancelledCallsOnBothErasASessionlessCallAndAnOperatorRevocationAreRecorded() async throws {
        try FileManager.default.createDirectory(atPath: auditDirectory, withIntermediateDirectories: true)
        let auditLog = auditDirectory + "/audit.jsonl"
        let served = try await ServedBroker.start(environment: ["FJMCP_AUDIT_LOG": auditLog, "FJMCP_AUDIT_RETENTION": "0s"])
        broker = served
        var (client, tokens) = try await served.client()
        _ = try await client.initialize()
        let legacy = try await client.stream(client.request(body: MCPTestClient.body(
            id: 1, method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 60_000]])))
        XCTAssertEqual(legacy.status, 200)
        legacy.close()
        var anonymous = client
        anonymous.sessionID = nil
        let sessionless = try await anonymous.tool(id: 2, "echo", ["text": "x"])
        XCTAssertEqual(sessionless.structured?["text"] as? String, "x", sessionless.body)
        let (body, fields) = ModernEraTests.request(id: 3, method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 60_000]])
        let modern = try await client.stream(client.request(body: body, headers: fields))
        XCTAssertEqual(modern.status, 200)
        modern.close()
        let revoked = try await served.admin(["revoke", "--user", "alice"])
        XCTAssertEqual(revoked.status, 0, revoked.stderr)

        let lines = await auditRecords(auditLog, atLeast: 6)
        func call(_ id: String) -> [String: Any]? { lines.first { $0["event"] as? String == "tool_call" && $0["request_id"] as? String == id } }
        XCTAssertEqual(call("1")?["outcome"] as? String, "cancelled", "\(lines)")
        XCTAssertEqual(call("2")?["outcome"] as? String, "ok", "\(lines)")
        XCTAssertEqual(call("3")?["outcome"] as? String, "cancelled", "\(lines)")
        XCTAssertEqual(call("3")?["client"] as? String, tokens.clientID)
        let operatorRevocation = lines.first { $0["event"] as? String == "revocation" }
        XCTAssertEqual(operatorRevocation?["detail"] as? String, "operator", "\(lines)")
        XCTAssertEqual(operatorRevocation?["user"] as? String, "alice")
        // FJMCP_AUDIT_RETENTION=0s: the file alone is the trail.
        let stored = try await served.admin(["audit", "--json"])
        XCTAssertEqual(stored.stdout, "", stored.stdout)
    }

    func testASignInTheSignInPolicyRefusesIsRecorded() async throws {
        try FileManager.default.createDirectory(atPath: auditDirectory, withIntermediateDirectories: true)
        let auditLog = auditDirectory + "/audit.jsonl"
        let served = try await ServedBroker.start(environment: ["FJMCP_AUDIT_LOG": auditLog, "FJMCP_ALLOWED_USERS": "bob"])
        broker = served
        do {
            _ = try await served.client(login: "alice")
            XCTFail("alice signed in although only bob may")
        } catch {}
        let lines = await auditRecords(auditLog, atLeast: 2)
        let login = lines.first { $0["event"] as? String == "login" }
        XCTAssertEqual(login?["outcome"] as? String, "refused", "\(lines)")
        XCTAssertEqual(login?["user"] as? String, "alice")
        XCTAssertNotNil(login?["detail"] as? String)
    }

    /// A tool name a client chose reaches the operator's terminal escaped in the table, and
    /// JSON-escaped with `--json`: never as a raw escape sequence, newline or bidi override.
    func testTheAuditTableShowsAClientsControlCharactersEscaped() async throws {
        let served = try await ServedBroker.start()
        broker = served
        var (client, _) = try await served.client()
        _ = try await client.initialize()
        let name = "x\u{1B}]0;owned\u{7}\u{1B}[2J\nfake row\u{202E}"
        _ = try await client.tool(id: 1, name)
        var table = ""
        _ = await eventually {
            table = (try? await served.admin(["audit", "--limit", "5"]))?.stdout ?? ""
            return table.contains("tool_call")
        }
        XCTAssertTrue(table.contains(#"x\u{1B}]0;owned\u{7}\u{1B}[2J\u{A}fake row\u{202E}"#), table)
        for raw in ["\u{1B}", "\u{7}", "\u{202E}", "\nfake row"] {
            XCTAssertFalse(table.contains(raw), "raw \(raw.unicodeScalars.map { $0.value }) in the table")
        }
        let json = try await served.admin(["audit", "--limit", "5", "--json"])
        XCTAssertFalse(json.stdout.contains("\u{1B}"), "JSON escapes controls itself")
        XCTAssertEqual(records(json.stdout).first { $0["event"] as? String == "tool_call" }?["tool"] as? String, name, json.stdout)
    }

    func testCheckConfigNamesBadPatternsAndAnUnusableAuditLog() async throws {
        let env = [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:8080", "FJMCP_DATA_DIR": NSTemporaryDirectory() + "unused",
            "FORGEJO_URL": "http://127.0.0.1:1", "FORGEJO_CLIENT_ID": "id", "FORGEJO_CLIENT_SECRET": "secret",
            "FJMCP_TOOLS_ALLOW": "get_*,[a-z]*", "FJMCP_READ_ONLY": "maybe", "FJMCP_AUDIT_LOG": auditDirectory + "/missing/audit.jsonl",
        ]
        let check = try ProductProcess("fjmcp-broker", arguments: ["check-config"], environment: env)
        let status = await check.waitForExit(timeout: .seconds(10))
        XCTAssertEqual(status, 2, check.stderr)
        XCTAssertTrue(check.stderr.contains("FJMCP_TOOLS_ALLOW is invalid: '[a-z]*': '[' is not allowed"), check.stderr)
        XCTAssertTrue(check.stderr.contains("FJMCP_READ_ONLY=maybe is invalid"), check.stderr)
        XCTAssertTrue(check.stderr.contains("FJMCP_AUDIT_LOG=\(auditDirectory)/missing/audit.jsonl: the directory"), check.stderr)
    }
}
