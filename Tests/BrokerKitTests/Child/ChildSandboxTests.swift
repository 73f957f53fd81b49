import Foundation
import XCTest

@testable import BrokerKit

/// The child sandbox against the real bubblewrap (bootstrap.sh installs it): a sandboxed demo
/// child, probing like a compromised one, reaches none of the broker's secrets and no sibling;
/// stopping it still ends its whole tree; a missing helper is reported the way each mode wants.
final class ChildSandboxTests: XCTestCase {
    private var children: [ChildProcess] = []
    private var directory = ""

    override func setUp() async throws {
        directory = NSTemporaryDirectory() + "fjmcp-sandbox-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        for child in children { await child.stop() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func sandbox() throws -> ChildSandbox {
        guard case .available(let sandbox) = ChildSandbox.availability(helperPath: nil) else {
            // A failure, not a skip: CI must prove the sandboxed path (scripts/bootstrap.sh installs bwrap).
            XCTFail("bubblewrap does not work here: \(ChildSandbox.availability(helperPath: nil))")
            throw CancellationError()
        }
        return sandbox
    }

    private func start(sandboxed: Bool, token: String, options: [String] = ["--no-forgejo-check"],
                       environment: [String: String] = [:], logs: LogCapture = LogCapture()) async throws
        -> (ChildProcess, LineCollector, Int32)
    {
        var spec = try ChildSpec(commandLine: ([DemoBinary.path] + options).joined(separator: " "), forgejoURL: "http://127.0.0.1:1",
                                 forgejoToken: token, brokerEnvironment: [:])
        spec.stopGrace = .milliseconds(500)
        spec.environment.merge(environment) { _, new in new }
        if sandboxed { spec.sandbox = try sandbox() }
        let child = ChildProcess(spec: spec, sessionID: "s-sandbox", logger: logs.logger)
        let lines = LineCollector()
        let pid = try await child.start { lines.append($0) }
        children.append(child)
        return (child, lines, pid)
    }

    private func probe(_ child: ChildProcess, _ lines: LineCollector) async throws -> [String: Any] {
        try await child.send(initializeLine(id: 1))
        _ = await lines.line(containing: #""id":1"#)
        try await child.send(toolCallLine(id: "2", tool: "sandbox_probe", arguments: "{}"))
        let answer = await lines.line(containing: #""id":2"#)
        let reply = try XCTUnwrap(answer, "no probe answer")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any])
        let result = try XCTUnwrap(json["result"] as? [String: Any], reply)
        return try XCTUnwrap(result["structuredContent"] as? [String: Any], reply)
    }

    /// A secret key file, a database file and a listening admin socket in a data directory.
    private func brokerSecrets() throws -> (paths: [String], socket: Int32) {
        let key = directory + "/secret.key"
        let database = directory + "/broker.sqlite"
        FileManager.default.createFile(atPath: key, contents: Data("key".utf8), attributes: [.posixPermissions: 0o600])
        FileManager.default.createFile(atPath: database, contents: Data("db".utf8), attributes: [.posixPermissions: 0o600])
        let socketPath = directory + "/admin.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(socketPath.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0)
        XCTAssertEqual(listen(fd, 4), 0)
        return ([key, database, socketPath], fd)
    }

    func testSandboxedProbeReachesNoSecretAndNoSibling() async throws {
        let (targets, socket) = try brokerSecrets()
        defer { close(socket) }
        let (_, _, siblingPID) = try await start(sandboxed: true, token: "sibling-token-0123456789")
        let environ = "/proc/\(siblingPID)/environ"
        let (child, lines, _) = try await start(
            sandboxed: true, token: "prober-token-0123456789", options: ["--no-forgejo-check", "--sandbox-probe"],
            environment: ["DEMO_PROBE_TARGETS": (targets + [environ]).joined(separator: ":")])
        let report = try await probe(child, lines)
        let reached = try XCTUnwrap(report["targets"] as? [String: String])
        XCTAssertEqual(reached.count, targets.count + 1, "\(report)")
        for (path, outcome) in reached { XCTAssertTrue(outcome.hasPrefix("unreadable"), "\(path): \(outcome)") }
        XCTAssertEqual(report["tokenEnvirons"] as? [Int], [], "no environment with another token is visible: \(report)")
        let others = try XCTUnwrap(report["otherProcesses"] as? [[String: Any]])
        XCTAssertFalse(others.contains { ($0["command"] as? String)?.contains("demo-mcp") ?? true }, "a sibling is visible: \(others)")
    }

    /// The control: unconfined, the same probe reads everything (so the test above proves the
    /// sandbox, not a broken probe).
    func testUnsandboxedProbeReachesEverything() async throws {
        let (targets, socket) = try brokerSecrets()
        defer { close(socket) }
        let (_, _, siblingPID) = try await start(sandboxed: false, token: "sibling-token-0123456789")
        let (child, lines, _) = try await start(
            sandboxed: false, token: "prober-token-0123456789", options: ["--no-forgejo-check", "--sandbox-probe"],
            environment: ["DEMO_PROBE_TARGETS": (targets + ["/proc/\(siblingPID)/environ"]).joined(separator: ":")])
        let report = try await probe(child, lines)
        let reached = try XCTUnwrap(report["targets"] as? [String: String])
        for (path, outcome) in reached { XCTAssertFalse(outcome.hasPrefix("unreadable"), "\(path): \(outcome)") }
        XCTAssertTrue((report["tokenEnvirons"] as? [Int])?.contains(Int(siblingPID)) ?? false, "\(report)")
    }

    /// Stopping a sandboxed child ends bwrap and everything under it (one process group).
    func testStoppingASandboxedChildEndsItsWholeTree() async throws {
        let tag = "FJMCP_SANDBOX_TREE=" + UUID().uuidString
        let pair = tag.split(separator: "=").map(String.init)
        let (child, lines, pid) = try await start(sandboxed: true, token: "tree-token-0123456789", environment: [pair[0]: pair[1]])
        try await child.send(initializeLine(id: 1))
        _ = await lines.line(containing: #""id":1"#)
        let inside = liveProcesses(withEnvironment: tag)
        XCTAssertGreaterThanOrEqual(inside.count, 2, "bwrap and the demo under it: \(inside)")
        await child.stop()
        let gone = await eventually { liveProcesses(withEnvironment: tag).isEmpty && !processIsAlive(pid) }
        XCTAssertTrue(gone, "left behind: \(liveProcesses(withEnvironment: tag))")
    }

    func testChildTokenOnStderrNeverReachesTheLog() async throws {
        let token = "leaky-token-" + UUID().uuidString
        let logs = LogCapture()
        let (_, lines, _) = try await start(sandboxed: true, token: token, options: ["--no-forgejo-check", "--leak-token-to-stderr"],
                                            logs: logs)
        _ = lines
        let logged = await eventually { logs.messages.contains { $0.contains("Authorization: token") } }
        XCTAssertTrue(logged, "the stderr line is logged (at debug): \(logs.messages)")
        XCTAssertFalse(logs.messages.contains { $0.contains(token) || $0.contains(String(token.prefix(20))) }, "\(logs.messages)")
        XCTAssertTrue(logs.messages.contains { $0.contains("[redacted]") })
    }

    func testMissingHelperIsReportedPerMode() throws {
        let nowhere = directory + "/no-such-bwrap"
        guard case .unavailable(let reason) = ChildSandbox.availability(helperPath: nowhere) else {
            return XCTFail("a missing helper cannot be available")
        }
        XCTAssertTrue(reason.contains("bubblewrap (bwrap) was not found"), reason)
        XCTAssertEqual(ChildSandbox.locateHelper(configured: nil, path: directory), nil, "no bwrap on this PATH")
        XCTAssertEqual(try ChildLauncher.sandbox(mode: .auto, helper: nowhere).get(), nil, "auto runs without")
        XCTAssertEqual(try ChildLauncher.sandbox(mode: .off, helper: nil).get(), nil)
        guard case .failure(.spawnFailed(let refused)) = ChildLauncher.sandbox(mode: .on, helper: nowhere) else {
            return XCTFail("on must refuse to start children unconfined")
        }
        XCTAssertTrue(refused.contains("bwrap"), refused)
    }

    /// A venv script (`<venv>/bin/tool`) needs its venv visible; a root that holds the data
    /// directory never is, and a plain binary is bound alone.
    func testACommandOutsideTheSystemSeesItsInstallationRootButNeverTheDataDirectory() throws {
        var sandbox = ChildSandbox(helper: "/usr/bin/bwrap", libraryDirectories: [])
        let venv = sandbox.commandLine(executable: "/srv/tools/venv/bin/gitea-mcp", arguments: []).1
        XCTAssertTrue(venv.joined(separator: " ").contains("--ro-bind /srv/tools/venv /srv/tools/venv"), venv.joined(separator: " "))
        sandbox.hiddenPaths = ["/srv/tools/venv/data"]
        let guarded = sandbox.commandLine(executable: "/srv/tools/venv/bin/gitea-mcp", arguments: []).1.joined(separator: " ")
        XCTAssertFalse(guarded.contains("--ro-bind /srv/tools/venv /srv/tools/venv"), guarded)
        XCTAssertTrue(guarded.contains("--ro-bind /srv/tools/venv/bin/gitea-mcp /srv/tools/venv/bin/gitea-mcp"), guarded)
        let plain = sandbox.commandLine(executable: "/opt/build/debug/demo-mcp-server", arguments: []).1.joined(separator: " ")
        XCTAssertTrue(plain.contains("--ro-bind /opt/build/debug/demo-mcp-server /opt/build/debug/demo-mcp-server"), plain)
        // A checkout under /tmp: the program is bound after the private /tmp, not hidden by it.
        let underTmp = sandbox.commandLine(executable: "/tmp/checkout/.build/debug/demo-mcp-server", arguments: []).1
        let tmpfs = try XCTUnwrap(underTmp.indices.first { underTmp[$0] == "--tmpfs" && underTmp[$0 + 1] == "/tmp" })
        let bind = try XCTUnwrap(underTmp.firstIndex(of: "/tmp/checkout/.build/debug/demo-mcp-server"))
        XCTAssertLessThan(tmpfs, bind, underTmp.joined(separator: " "))
    }

    /// A script's interpreter outside the system directories (a venv on a pyenv Python) is
    /// visible too, at its real path.
    func testAScriptsInterpreterIsVisible() throws {
        let directory = NSTemporaryDirectory() + "sandbox-interpreter-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory + "/python/bin", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/venv/bin", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = FileManager.default.createFile(atPath: directory + "/python/bin/python3", contents: Data())
        try FileManager.default.createSymbolicLink(atPath: directory + "/venv/bin/python", withDestinationPath: directory + "/python/bin/python3")
        _ = FileManager.default.createFile(atPath: directory + "/venv/bin/tool", contents: Data("#!\(directory)/venv/bin/python\nprint()\n".utf8))
        let words = ChildSandbox(helper: "/usr/bin/bwrap", libraryDirectories: []).commandLine(executable: directory + "/venv/bin/tool", arguments: [])
            .1.joined(separator: " ")
        let real = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
        XCTAssertTrue(words.contains("--ro-bind \(real)/python \(real)/python"), words)
        XCTAssertTrue(words.contains("\(real)/venv"), words)
    }

    func testExplainNamesTheMissingKernelFeature() {
        let userns = ChildSandbox.explain("bwrap: No permissions to creating new namespace, likely because the kernel does not allow non-privileged user namespaces", helper: "/usr/bin/bwrap", status: 1)
        XCTAssertTrue(userns.contains("unprivileged user namespaces"), userns)
        let proc = ChildSandbox.explain("bwrap: Can't mount proc on /newroot/proc: Operation not permitted", helper: "/usr/bin/bwrap", status: 1)
        XCTAssertTrue(proc.contains("unmask=/proc/*"), proc)
    }

    func testRedactorCutsWholeAndTruncatedSecrets() {
        let redactor = ChildStderrRedactor(secrets: ["abcdefghijklmnop", "short"])
        XCTAssertEqual(redactor.redact(Array("x abcdefghijklmnop y abcdefghijklmnop".utf8)), "x [redacted] y [redacted]")
        XCTAssertEqual(redactor.redact(Array("cut at abcdefgh".utf8)), "cut at [redacted]", "a truncated line's tail")
        XCTAssertEqual(redactor.redact(Array("short stays, abc stays".utf8)), "short stays, abc stays")
        let secrets = ChildStderrRedactor.secrets(in: ["PATH": "/usr/bin:/bin", "GITEA_TOKEN": "other-token-123", "FORGEJO_URL": "http://x"],
                                                  credentials: ["forgejo-token-1"])
        XCTAssertEqual(secrets, ["forgejo-token-1", "other-token-123"])
    }

    /// Spawn-to-first-answer with and without the sandbox, reported for docs/design.md.
    func testSandboxStartCostIsSmall() async throws {
        func startup(sandboxed: Bool) async throws -> Duration {
            let started = ContinuousClock.now
            let (child, lines, _) = try await start(sandboxed: sandboxed, token: "timing-token-0123456789")
            try await child.send(initializeLine(id: 1))
            _ = await lines.line(containing: #""id":1"#)
            let elapsed = ContinuousClock.now - started
            await child.stop()
            return elapsed
        }
        var plain: [Duration] = []
        var sandboxed: [Duration] = []
        for _ in 0..<5 {
            plain.append(try await startup(sandboxed: false))
            sandboxed.append(try await startup(sandboxed: true))
        }
        let median = { (values: [Duration]) in values.sorted()[values.count / 2] }
        print("child start to initialize answer, median of 5: unconfined \(median(plain)), sandboxed \(median(sandboxed))")
        XCTAssertLessThan(median(sandboxed) - median(plain), .milliseconds(500), "the sandbox must not make child starts slow")
    }
}
