import FakeForgejo
import Foundation
import Synchronization
import XCTest

@testable import BrokerKit

final class ChildProcessTests: XCTestCase {
    private func start(_ spec: ChildSpec, logs: LogCapture = LogCapture()) async throws -> (ChildProcess, LineCollector) {
        let child = ChildProcess(spec: spec, sessionID: "s-test", logger: logs.logger)
        let lines = LineCollector()
        _ = try await child.start { lines.append($0) }
        return (child, lines)
    }

    func testInitializeAndEcho() async throws {
        let (child, lines) = try await start(DemoBinary.spec())
        try await child.send(initializeLine())
        let initialized = await lines.line(containing: #""id":1"#)
        XCTAssertTrue(initialized?.contains(#""protocolVersion":"2025-06-18""#) ?? false, initialized ?? "no reply")
        try await child.send(toolCallLine(id: "2", tool: "echo", arguments: #"{"text":"hello"}"#))
        let echoed = await lines.line(containing: #""id":2"#)
        XCTAssertTrue(echoed?.contains(#""text":"hello""#) ?? false)
        let exit = await child.stop()
        XCTAssertEqual(exit.reason, .stoppedByBroker)
        XCTAssertEqual(exit.status, .exited(0), "stdin EOF alone ends a well-behaved child")
    }

    func testChildSeesOnlyTheAllowedEnvironment() async throws {
        let logs = LogCapture()
        setenv("FJMCP_TEST_BROKER_SECRET", "must-not-leak", 1)
        var spec = try ChildSpec(
            commandLine: "/usr/bin/env", forgejoURL: "http://forge", forgejoToken: "tok", extraEnvironment: ["LANG=C"],
            brokerEnvironment: ProcessInfo.processInfo.environment)
        spec.stderrRateLimit = LogRateLimit(burst: 100, perSecond: 100)
        spec.executable = "/bin/sh"
        spec.arguments = ["-c", "exec /usr/bin/env >&2"]
        let (child, _) = try await start(spec, logs: logs)
        _ = await child.waitForExit()
        let variables = Set(logs.messages.compactMap { $0.split(separator: "=").first.map(String.init) }
            .filter { $0.uppercased() == $0 && !$0.contains(" ") })
        let shellOwn: Set<String> = ["PWD", "SHLVL", "_", "OLDPWD"]
        XCTAssertEqual(variables.subtracting(shellOwn), ["PATH", "LANG", "FORGEJO_URL", "FORGEJO_ACCESS_TOKEN"])
        XCTAssertFalse(logs.messages.contains { $0.contains("must-not-leak") })
    }

    func testCrashReportsExitCode() async throws {
        let (child, _) = try await start(DemoBinary.spec())
        try await child.send(toolCallLine(id: "1", tool: "crash", arguments: #"{"code":3}"#))
        let exit = await child.waitForExit()
        XCTAssertEqual(exit?.reason, .exited(3))
        XCTAssertEqual(exit?.status, .exited(3))
        do {
            try await child.send(initializeLine())
            XCTFail("a dead child must not accept input")
        } catch {
            XCTAssertEqual(error, .notRunning)
        }
    }

    func testRejectedTokenExitsQuickly() async throws {
        let forgejo = try await FakeForgejoServer.start(options: FakeForgejoOptions())
        defer { Task { await forgejo.stop() } }
        let spec = try ChildSpec(
            commandLine: DemoBinary.path, forgejoURL: forgejo.baseURL, forgejoToken: "not-a-valid-token",
            brokerEnvironment: [:])
        let logs = LogCapture()
        let started = ContinuousClock.now
        let (child, _) = try await start(spec, logs: logs)
        let exit = await child.waitForExit()
        XCTAssertEqual(exit?.reason, .exited(1))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
        XCTAssertTrue(logs.messages.contains { $0.contains("401") }, "the child's stderr reason reaches the log")
        XCTAssertFalse(logs.messages.contains { $0.contains("not-a-valid-token") })
    }

    func testUnreachableForgejoExitsQuickly() async throws {
        let spec = try ChildSpec(
            commandLine: DemoBinary.path, forgejoURL: "http://127.0.0.1:1", forgejoToken: "t", brokerEnvironment: [:])
        let (child, _) = try await start(spec)
        let exit = await child.waitForExit()
        XCTAssertEqual(exit?.reason, .exited(1))
    }

    func testMissingExecutableIsAClearError() async {
        let child = ChildProcess(spec: ChildSpec(executable: "no-such-child-binary"), sessionID: "s", logger: LogCapture().logger)
        do {
            _ = try await child.start { _ in }
            XCTFail("expected a spawn error")
        } catch {
            XCTAssertEqual(error, .executableNotFound("no-such-child-binary"))
        }
        let exit = await child.waitForExit()
        XCTAssertEqual(exit?.reason, .spawnFailed)
        do {
            _ = try await child.start { _ in }
            XCTFail("expected alreadyStarted")
        } catch {
            XCTAssertEqual(error, .alreadyStarted)
        }
    }

    func testStopBeforeStartDoesNotHang() async {
        let child = ChildProcess(spec: DemoBinary.spec(), sessionID: "s", logger: LogCapture().logger)
        let exit = await child.stop()
        XCTAssertEqual(exit.reason, .stoppedByBroker)
        XCTAssertNil(exit.status)
    }

    func testOversizedLineKillsChild() async throws {
        var spec = DemoBinary.spec(["--no-forgejo-check", "--oversized-line", "300000"])
        spec.maxLineBytes = 64 * 1024
        let (child, lines) = try await start(spec)
        try await child.send(initializeLine())
        let exit = await child.waitForExit()
        XCTAssertEqual(exit?.reason, .lineTooLong)
        XCTAssertEqual(exit?.status, .signaled(SIGKILL))
        XCTAssertEqual(exit?.reason.label, "stdout_line_too_long")
        let received = lines.strings
        XCTAssertTrue(received.allSatisfy { $0.utf8.count <= spec.maxLineBytes })
    }

    func testLineWithinLimitIsDelivered() async throws {
        let (child, lines) = try await start(DemoBinary.spec(["--no-forgejo-check", "--oversized-line", "300000"]))
        try await child.send(initializeLine())
        let big = await lines.line(containing: "notifications/message")
        XCTAssertEqual(big?.utf8.count, 300_000)
        await child.stop()
    }

    func testGarbageStdoutIsDroppedAndChildStillWorks() async throws {
        let logs = LogCapture()
        let (child, lines) = try await start(DemoBinary.spec(["--no-forgejo-check", "--garbage-stdout"]), logs: logs)
        try await child.send(initializeLine())
        try await child.send(toolCallLine(id: "2", tool: "echo", arguments: #"{"text":"x"}"#))
        let reply = await lines.line(containing: #""id":2"#)
        XCTAssertNotNil(reply)
        let received = lines.strings
        XCTAssertFalse(received.contains { $0.contains("not json") })
        XCTAssertTrue(logs.messages.contains { $0.contains("non-JSON") })
        await child.stop()
    }

    func testNoisyStderrIsRateLimited() async throws {
        let logs = LogCapture()
        var spec = DemoBinary.spec(["--no-forgejo-check", "--noisy-stderr"])
        spec.stderrRateLimit = LogRateLimit(burst: 20, perSecond: 1)
        let (child, lines) = try await start(spec, logs: logs)
        try await child.send(initializeLine())
        _ = await lines.line(containing: #""id":1"#)
        await child.stop()
        let childLines = logs.messages.filter { $0.contains("fjmcp-demo:") }
        XCTAssertGreaterThanOrEqual(childLines.count, 20)
        XCTAssertLessThan(childLines.count, 40, "200 start-up lines must not all reach the log")
        XCTAssertTrue(logs.messages.contains { $0.hasPrefix("suppressed ") })
    }

    /// The lines of a flooding child are handed on as the pipe is read, each once: the reader
    /// itself keeps nothing of the flood (what a slow client leaves unread is bounded by the
    /// sinks of the bridge, `BridgeOverflowTests`).
    func testAFloodIsHandedOnAsReadWithoutPilingUpInTheReader() async throws {
        let delivered = Mutex(0)
        let child = ChildProcess(spec: DemoBinary.spec(grace: .milliseconds(200)), sessionID: "s-flood", logger: LogCapture().logger)
        _ = try await child.start { _ in delivered.withLock { $0 += 1 } }
        try await child.send(
            toolCallLine(id: "1", tool: "progress", arguments: #"{"steps":2000000}"#, meta: #"{"progressToken":1}"#))
        let flowing = await eventually { delivered.withLock { $0 } > 10_000 }
        XCTAssertTrue(flowing, "progress lines arrive while the child floods")
        // Measured once the flood flows, so the pipe's and the loop's one-time buffers are not
        // counted as what the flood piled up.
        let before = residentBytes()
        try await Task.sleep(for: .seconds(1))
        let growth = residentBytes() - before
        XCTAssertLessThan(growth, 32 << 20, "the reader buffers nothing of the flood")
        let exit = await child.stop()
        XCTAssertEqual(exit.reason, .stoppedByBroker)
    }

    func testSigtermIgnoringChildIsKilledWithinGrace() async throws {
        let (child, lines) = try await start(DemoBinary.spec(["--no-forgejo-check", "--ignore-sigterm"], grace: .milliseconds(300)))
        try await child.send(toolCallLine(id: "1", tool: "sleep", arguments: #"{"ms":60000}"#))
        try await child.send(initializeLine(id: 2))
        _ = await lines.line(containing: #""id":2"#)
        // The pending sleep keeps the demo alive after stdin EOF, and it ignores SIGTERM.
        let childPID = await child.pid
        let pid = try XCTUnwrap(childPID)
        let started = ContinuousClock.now
        let exit = await child.stop()
        XCTAssertEqual(exit.reason, .stoppedByBroker)
        XCTAssertEqual(exit.status, .signaled(SIGKILL))
        XCTAssertLessThan(ContinuousClock.now - started, .milliseconds(600) + .seconds(1))
        XCTAssertFalse(processIsAlive(pid))
    }

    func testStubbornGroupIsKilledIncludingGrandchild() async throws {
        var spec = ChildSpec(
            executable: "/bin/sh",
            arguments: ["-c", #"trap '' TERM; sleep 300 & echo "{\"grandchild\":$!}"; while :; do sleep 1; done"#],
            stopGrace: .milliseconds(300))
        spec.parentDeathSignal = true
        let (child, lines) = try await start(spec)
        let announced = await lines.line(containing: "grandchild")
        let grandchild = try XCTUnwrap(
            announced.flatMap { Int32($0.filter(\.isNumber)) }, "the shell reports its background pid")
        let childPID = await child.pid
        let pid = try XCTUnwrap(childPID)
        XCTAssertTrue(processIsAlive(grandchild))
        let started = ContinuousClock.now
        let exit = await child.stop()
        let elapsed = ContinuousClock.now - started
        XCTAssertEqual(exit.reason, .stoppedByBroker)
        XCTAssertEqual(exit.status, .signaled(SIGKILL))
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(600), "stdin EOF and SIGTERM were each given the grace")
        XCTAssertLessThan(elapsed, .seconds(3))
        let gone = await eventually(timeout: .seconds(3)) { !processIsAlive(pid) && !processIsAlive(grandchild) }
        XCTAssertTrue(gone, "no process of the group may survive stop()")
    }

    private func residentBytes() -> Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
            let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
