import Foundation
import Logging
import XCTest

@testable import BrokerKit

/// Child swaps at the registry level, with real demo children: the drain bound holds against a
/// replaced child that never finishes, and a refused or failed swap leaves the session as it was.
final class SessionChildSwapTests: XCTestCase {
    /// Hands out a new token generation on every call, like a manager that refreshed in between.
    actor RotatingTokens: UpstreamTokenProvider {
        private var generation: Int64 = 0
        /// After this many tokens every call fails as "unavailable" (Forgejo down).
        private let failAfter: Int64?

        init(failAfter: Int64? = nil) {
            self.failAfter = failAfter
        }

        func accessToken(userID: Int64) async throws(UpstreamCredentialError) -> UpstreamCredential {
            if let failAfter, generation >= failAfter { throw .unavailable(reason: "test") }
            generation += 1
            return UpstreamCredential(token: "token-\(userID)-\(generation)", expiresAt: Date().addingTimeInterval(3600),
                                      generation: generation)
        }
    }

    private let owner = SessionOwner(userID: 1, login: "alice", clientID: "c1")

    private func registry(childOptions: String = "", tokens: RotatingTokens = RotatingTokens()) throws -> ChildHost {
        let config = try BrokerConfig.load(from: ConfigSource(environment: [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:9", "FORGEJO_URL": "http://127.0.0.1:1", "FORGEJO_CLIENT_ID": "id",
            "FORGEJO_CLIENT_SECRET": "secret", "FJMCP_DATA_DIR": NSTemporaryDirectory(),
            "FJMCP_CHILD_COMMAND": DemoBinary.path + " --no-forgejo-check " + childOptions, "FJMCP_CHILD_STOP_GRACE": "200ms", "FJMCP_CHILD_SANDBOX": "off",
        ]))
        return ChildHost(limits: SessionRegistryLimits(config.sessions), launcher: ChildLauncher(config: config, brokerEnvironment: [:]),
                               tokens: tokens, logger: Logger(label: "session-child-swap-tests"))
    }

    private func open(_ registry: ChildHost) async throws -> HostedChild {
        let initialize = try JSONRPCMessage(Array(
            #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#.utf8))
        guard case .opened(let id, _) = try await registry.open(owner: owner, initialize: initialize) else {
            throw XCTSkip("the demo child rejected initialize")
        }
        return try await registry.lookup(id: id, owner: owner)
    }

    private func call(_ id: Int, _ tool: String, _ arguments: String) throws -> JSONRPCMessage {
        try JSONRPCMessage(Array(
            #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"\#(tool)","arguments":\#(arguments)}}"#.utf8))
    }

    /// The call's final response as JSON, or nil if its stream ended without one.
    private func response(of call: SessionCall) async -> [String: Any]? {
        for await event in call.events {
            if case .response(let bytes) = event {
                return (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
            }
        }
        return nil
    }

    /// A replaced child whose request never finishes (and which ignores SIGTERM) is stopped once
    /// the drain bound passes; the request gets a JSON-RPC error with the client's id instead of
    /// hanging, and the session carries on with its new child.
    func testAReplacedChildThatNeverFinishesIsStoppedAfterTheDrainBound() async throws {
        let registry = try registry(childOptions: "--ignore-sigterm")
        addTeardownBlock { await registry.shutdown() }
        let session = try await open(registry)
        let firstPID = await session.child.pid
        let oldPID = try XCTUnwrap(firstPID)
        let stuck = try await session.send(call(7, "sleep", #"{"ms":600000}"#))
        let pending = await eventuallyTrue { await session.pendingRequests == 1 }
        XCTAssertTrue(pending)

        let drain = Duration.milliseconds(300)
        let started = ContinuousClock.now
        let outcome = await registry.replaceChild(.session(session.sessionID ?? ""), generation: 2, drain: drain)
        XCTAssertEqual(outcome, .swapped)
        let secondPID = await session.child.pid
        let newPID = try XCTUnwrap(secondPID)
        XCTAssertNotEqual(newPID, oldPID)

        let answer = await response(of: stuck)
        let elapsed = ContinuousClock.now - started
        XCTAssertEqual(answer?["id"] as? Int, 7, "\(answer ?? [:])")
        let error = answer?["error"] as? [String: Any]
        XCTAssertEqual(error?["code"] as? Int, -32603)
        XCTAssertTrue((error?["message"] as? String)?.contains("exited") ?? false, "\(error ?? [:])")
        XCTAssertGreaterThanOrEqual(elapsed, drain, "the old child was stopped before the drain bound")
        // Drain, then stdin EOF and SIGTERM (ignored) a grace apart, then SIGKILL: well under 5 s.
        XCTAssertLessThan(elapsed, .seconds(5))
        let gone = await eventuallyTrue { kill(oldPID, 0) != 0 }
        XCTAssertTrue(gone, "the replaced child \(oldPID) is still running")

        let echo = await response(of: try await session.send(call(8, "echo", #"{"text":"new child"}"#)))
        XCTAssertNotNil(echo?["result"], "\(echo ?? [:])")
        let count = await registry.sessionCount
        XCTAssertEqual(count, 1, "stopping the replaced child must not end the session")
    }

    /// A replaced child that finishes its last request is stopped at once, long before the bound.
    func testAReplacedChildIsStoppedAsSoonAsItsRequestsFinish() async throws {
        let registry = try registry()
        addTeardownBlock { await registry.shutdown() }
        let session = try await open(registry)
        let firstPID = await session.child.pid
        let oldPID = try XCTUnwrap(firstPID)
        let slow = try await session.send(call(9, "sleep", #"{"ms":300}"#))
        let outcome = await registry.replaceChild(.session(session.sessionID ?? ""), generation: 2, drain: .seconds(60))
        XCTAssertEqual(outcome, .swapped)
        let answer = await response(of: slow)
        XCTAssertNotNil(answer?["result"], "an in-flight request finishes on the old child: \(answer ?? [:])")
        let gone = await eventuallyTrue(timeout: .seconds(5)) { kill(oldPID, 0) != 0 }
        XCTAssertTrue(gone, "the drained child \(oldPID) was not stopped after its last request")
    }

    /// Same or older generations are refused without starting a child; an unknown session is gone.
    func testStaleGenerationsAndUnknownSessionsAreNotSwapped() async throws {
        let registry = try registry()
        addTeardownBlock { await registry.shutdown() }
        let session = try await open(registry)
        let pid = await session.child.pid
        let same = await registry.replaceChild(.session(session.sessionID ?? ""), generation: 1, drain: .seconds(1))
        XCTAssertEqual(same, .notNeeded)
        let unknown = await registry.replaceChild(.session("no-such-session"), generation: 5, drain: .seconds(1))
        XCTAssertEqual(unknown, .sessionGone)
        let after = await session.child.pid
        XCTAssertEqual(after, pid)
    }

    /// A swap whose new token cannot be had leaves the old child serving and reports when that
    /// child's token expires (the rotation's retry limit).
    func testAFailedSwapKeepsTheOldChildAndReportsItsExpiry() async throws {
        let tokens = RotatingTokens(failAfter: 1)
        let registry = try registry(tokens: tokens)
        addTeardownBlock { await registry.shutdown() }
        let session = try await open(registry)
        let pid = await session.child.pid
        let expiry = session.credential.expiresAt
        let outcome = await registry.replaceChild(.session(session.sessionID ?? ""), generation: 2, drain: .seconds(1))
        XCTAssertEqual(outcome, .failed(tokenExpiresAt: expiry))
        let after = await session.child.pid
        XCTAssertEqual(after, pid)
        let echo = await response(of: try await session.send(call(3, "echo", #"{"text":"still the old child"}"#)))
        XCTAssertNotNil(echo?["result"], "\(echo ?? [:])")
    }
}

/// Polls until `condition` holds or `timeout` passes.
func eventuallyTrue(timeout: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}

extension SessionChildSwapTests {
    /// Requests sent while swaps happen all succeed: a request already on its way to the old
    /// child when the swap starts counts as in flight there, so the drain does not stop that
    /// child before the request is registered (it would get "process exited").
    func testRequestsRacingSwapsAllSucceed() async throws {
        let registry = try registry()
        addTeardownBlock { await registry.shutdown() }
        let session = try await open(registry)
        let failures = try await withThrowingTaskGroup(of: [String].self) { group in
            for worker in 0..<6 {
                group.addTask {
                    var failures: [String] = []
                    for index in 0..<40 {
                        let id = 1000 + worker * 100 + index
                        let request = try JSONRPCMessage(Array(
                            #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}"#.utf8))
                        let call = try await session.send(request)
                        for await event in call.events {
                            guard case .response(let bytes) = event else { continue }
                            let text = String(decoding: bytes, as: UTF8.self)
                            if !text.contains(#""result""#) { failures.append(text) }
                        }
                    }
                    return failures
                }
            }
            group.addTask {
                for generation in 2...6 {
                    try? await Task.sleep(for: .milliseconds(60))
                    let outcome = await registry.replaceChild(.session(session.sessionID ?? ""), generation: Int64(generation), drain: .seconds(5))
                    if outcome != .swapped { return ["swap \(generation): \(outcome)"] }
                }
                return []
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        XCTAssertEqual(failures, [])
    }
}
