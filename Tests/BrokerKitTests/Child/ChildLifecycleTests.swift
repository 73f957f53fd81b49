import Foundation
import XCTest

@testable import BrokerKit

/// start/stop/send edge cases: cancellation, concurrent stop, spawn failure, message framing.
final class ChildLifecycleTests: XCTestCase {
    private static let markerName = "FJMCP_TEST_MARKER"

    /// A spec whose processes can be found in /proc by a unique environment entry.
    private func tagged(_ spec: ChildSpec) -> (ChildSpec, String) {
        var spec = spec
        let value = UUID().uuidString
        spec.environment[Self.markerName] = value
        return (spec, "\(Self.markerName)=\(value)")
    }

    func testPrettyPrintedMessageReachesTheChildAsOneLine() async throws {
        let child = ChildProcess(spec: DemoBinary.spec(), sessionID: "s-pretty", logger: LogCapture().logger)
        let lines = LineCollector()
        _ = try await child.start { lines.append($0) }
        let pretty = "{\r\n  \"jsonrpc\": \"2.0\",\n  \"id\": 7,\n  \"method\": \"tools/call\",\n  \"params\": {\n"
            + "    \"name\": \"echo\",\n    \"arguments\": {\"text\": \"a\\nb\"}\n  }\n}\r\n"
        try await child.send(Array(pretty.utf8))
        try await child.send(Array(#"{"jsonrpc":"2.0","id":8,"method":"ping"}"#.utf8))
        let echoed = await lines.line(containing: #""id":7"#)
        let pong = await lines.line(containing: #""id":8"#)
        XCTAssertNotNil(pong)
        XCTAssertTrue(echoed?.contains(#""text":"a\nb""#) ?? false, echoed ?? "no reply to the pretty request")
        // The demo answers parse errors inline, before reading on, so any stray fragment of the
        // pretty request would have been answered before the ping.
        let received = lines.strings
        XCTAssertEqual(received.count, 2, "\(received)")
        await child.stop()
    }

    func testFramingReplacesLineBreaksOnly() {
        XCTAssertEqual(Array(ChildProcess.framed(Array("{\r\n\"a\":\n1}".utf8)).readableBytesView), Array("{  \"a\": 1}\n".utf8))
        XCTAssertEqual(Array(ChildProcess.framed(Array(#"{"a":"x\ny"}"#.utf8)).readableBytesView), Array("{\"a\":\"x\\ny\"}\n".utf8))
        XCTAssertEqual(Array(ChildProcess.framed([]).readableBytesView), [0x0A])
    }

    func testCancelledStartLeavesNoProcess() async {
        let (spec, marker) = tagged(DemoBinary.spec(["--slow-start", "500", "--no-forgejo-check"]))
        let child = ChildProcess(spec: spec, sessionID: "s-cancel", logger: LogCapture().logger)
        let attempt = Task { () -> Result<pid_t, ChildError> in
            withUnsafeCurrentTask { $0?.cancel() }
            return await startOutcome(child)
        }
        let outcome = await finishes(within: .seconds(5)) { await attempt.value }
        XCTAssertEqual(outcome, .failure(.spawnFailed("cancelled while starting")))
        let exit = await child.exit
        XCTAssertEqual(exit?.reason, .stoppedByBroker, "the child is settled before start() throws")
        XCTAssertEqual(liveProcesses(withEnvironment: marker), [])
        try? await Task.sleep(for: .milliseconds(200))
        XCTAssertEqual(liveProcesses(withEnvironment: marker), [], "nothing is spawned after start() gave up")
    }

    func testStartCancelledWhileLaunchingLeavesNoProcess() async {
        for _ in 0..<5 {
            let (spec, marker) = tagged(DemoBinary.spec(["--slow-start", "500", "--no-forgejo-check"]))
            let child = ChildProcess(spec: spec, sessionID: "s-cancel-race", logger: LogCapture().logger)
            let attempt = Task { await startOutcome(child) }
            attempt.cancel()
            let outcome = await finishes(within: .seconds(5)) { await attempt.value }
            switch outcome {
            case .success?:
                await child.stop()  // the cancellation came after start() returned: the caller owns it
            case .failure(let error)?:
                XCTAssertEqual(error, .spawnFailed("cancelled while starting"))
            case nil:
                XCTFail("start() hung")
            }
            XCTAssertEqual(liveProcesses(withEnvironment: marker), [])
        }
    }

    func testStopDuringStartReturnsPromptlyAndLeavesNoProcess() async {
        for _ in 0..<5 {
            // Ignores stdin EOF and SIGTERM, so only an escalating stop() ends it.
            let (spec, marker) = tagged(
                ChildSpec(
                    executable: "/bin/sh", arguments: ["-c", "trap '' TERM; while :; do sleep 1; done"],
                    stopGrace: .milliseconds(200)))
            let child = ChildProcess(spec: spec, sessionID: "s-stop-race", logger: LogCapture().logger)
            async let starting = finishes(within: .seconds(5)) { await startOutcome(child) }
            async let stopping = finishes(within: .seconds(3)) { await child.stop() }
            let (started, exit) = await (starting, stopping)
            XCTAssertEqual(exit?.reason, .stoppedByBroker, "stop() must escalate once the launch completes")
            if case .failure(let error)? = started {
                XCTAssertEqual(error, .notRunning, "only a start() that comes after stop() may fail")
            }
            XCTAssertNotNil(started)
            let gone = await eventually(timeout: .seconds(2)) { liveProcesses(withEnvironment: marker).isEmpty }
            XCTAssertTrue(gone, "no process of the group may survive stop()")
        }
    }

    func testSendAfterSpawnFailureThrowsNotRunning() async {
        for _ in 0..<5 {
            // A directory passes the executable check but cannot be executed.
            let child = ChildProcess(
                spec: ChildSpec(executable: "/", parentDeathSignal: false), sessionID: "s-spawn",
                logger: LogCapture().logger)
            // A send racing the launch may be queued before the spawn fails; it must not hang either.
            let starting = Task { await startOutcome(child) }
            let racing = await finishes(within: .seconds(2)) { await sendOutcome(child) }
            let outcome = await finishes(within: .seconds(2)) { await starting.value }
            guard case .failure(.spawnFailed)? = outcome else {
                return XCTFail("expected a spawn failure, got \(String(describing: outcome))")
            }
            let after = await finishes(within: .seconds(2)) { await sendOutcome(child) }
            XCTAssertEqual(racing ?? nil, .notRunning, "send() during a failing launch")
            XCTAssertEqual(after ?? nil, .notRunning, "send() after a failed launch")
            let exit = await child.exit
            XCTAssertEqual(exit?.reason, .spawnFailed)
        }
    }
}

/// `start()` with a no-op handler, its outcome as a value so tasks can hand it back.
private func startOutcome(_ child: ChildProcess) async -> Result<pid_t, ChildError> {
    do {
        return .success(try await child.start { _ in })
    } catch {
        return .failure(error)
    }
}

/// `send()` of an initialize line, its error (nil on success) as a value.
private func sendOutcome(_ child: ChildProcess) async -> ChildError? {
    do throws(ChildError) {
        try await child.send(initializeLine())
        return nil
    } catch {
        return error
    }
}
