import AsyncHTTPClient
import BrokerKit
import Foundation
import XCTest

/// MRTR over real HTTP with the demo child's `ask` tool: the child's server→client request
/// becomes an `input_required` result, the client's retry answers the SAME pending child call,
/// and every bad `requestState` is refused with `-32602`/400 (the spec names no code for these).
final class ModernMRTRTests: XCTestCase {
    private static func ask(_ kind: String) -> [String: Any] { ["name": "ask", "arguments": ["kind": kind]] }

    private static func meta(_ capabilities: [String: Any]) -> [String: Any] {
        ModernEraTests.meta(extra: ["io.modelcontextprotocol/clientCapabilities": capabilities])
    }

    private static var everything: [String: Any] { [
        "elicitation": [String: Any](), "sampling": [String: Any](), "roots": [String: Any](),
    ] }

    /// The retry: original params plus the answers and the echoed state, under a new id.
    private static func retry(_ params: [String: Any], state: String?, responses: [String: Any]?) -> [String: Any] {
        var params = params
        if let state { params["requestState"] = state }
        if let responses { params["inputResponses"] = responses }
        return params
    }

    private static func sleepDeclaringEverything(_ client: MCPTestClient, id: String, ms: Int) async throws -> MCPReply {
        try await client.modern(id: id, method: "tools/call", params: ["name": "sleep", "arguments": ["ms": ms]], meta: meta(everything))
    }

    private func inputRequired(_ reply: MCPReply, file: StaticString = #filePath, line: UInt = #line) throws -> (state: String, request: [String: Any]) {
        XCTAssertEqual(reply.status, 200, reply.body, file: file, line: line)
        let result = try XCTUnwrap(reply.result, reply.body, file: file, line: line)
        XCTAssertEqual(result["resultType"] as? String, "input_required", reply.body, file: file, line: line)
        XCTAssertNil(result["ttlMs"], "input_required results carry no caching hints", file: file, line: line)
        XCTAssertEqual(ModernEraTests.serverName(result), "fjmcp-demo", file: file, line: line)
        let requests = try XCTUnwrap(result["inputRequests"] as? [String: Any], file: file, line: line)
        XCTAssertEqual(Array(requests.keys), ["input-1"], file: file, line: line)
        return (try XCTUnwrap(result["requestState"] as? String, file: file, line: line),
                try XCTUnwrap(requests["input-1"] as? [String: Any], file: file, line: line))
    }

    func testModernElicitationSamplingAndRootsRoundTripThroughTheSameChildCall() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        let client = try await broker.client()
        let answers: [(String, String, [String: Any])] = [
            ("elicitation", "elicitation/create", ["action": "accept", "content": ["ok": true]]),
            ("sampling", "sampling/createMessage", ["role": "assistant", "content": ["type": "text", "text": "hello"], "model": "m"]),
            ("roots", "roots/list", ["roots": [["uri": "file:///work", "name": "work"]]]),
        ]
        for (index, (kind, method, answer)) in answers.enumerated() {
            let first = try await client.modern(id: "first-\(index)", method: "tools/call", params: Self.ask(kind), meta: Self.meta(Self.everything))
            let (state, request) = try inputRequired(first)
            XCTAssertEqual(request["method"] as? String, method)
            XCTAssertEqual(first.final["id"] as? String, "first-\(index)")
            let pid = await broker.host.pendingRequests(userID: 101)
            XCTAssertEqual(pid, 1, "the child call stays pending between the two HTTP requests")

            let second = try await client.modern(id: "retry-\(index)", method: "tools/call",
                                                 params: Self.retry(Self.ask(kind), state: state, responses: ["input-1": answer]),
                                                 meta: Self.meta(Self.everything))
            XCTAssertEqual(second.status, 200, second.body)
            XCTAssertEqual(second.final["id"] as? String, "retry-\(index)", "the answer belongs to the retry")
            XCTAssertEqual(second.result?["resultType"] as? String, "complete")
            XCTAssertEqual(second.structured?["method"] as? String, method, second.body)
            let echoed = try XCTUnwrap(second.structured?["result"] as? [String: Any], second.body)
            XCTAssertEqual(echoed as NSDictionary, answer as NSDictionary, "the child got exactly the client's answer")
        }
        let pending = await broker.host.pendingRequests(userID: 101)
        let parked = await broker.parking.parkedCount
        XCTAssertEqual(pending, 0)
        XCTAssertEqual(parked, 0)
        let children = await broker.host.userChildCount
        XCTAssertEqual(children, 1, "all rounds ran on the user's one pooled child")
    }

    func testModernUndeclaredCapabilityIsRefusedToTheChild() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        let client = try await broker.client()
        let cases: [(String, [String: Any])] = [
            ("elicitation", ["sampling": [String: Any]()]),
            ("sampling", ["elicitation": [String: Any]()]),
            ("roots", [:]),
            ("elicitation", ["elicitation": ["url": [String: Any]()]]),
        ]
        for (kind, capabilities) in cases {
            let reply = try await client.modern(method: "tools/call", params: Self.ask(kind), meta: Self.meta(capabilities))
            XCTAssertEqual(reply.status, 200, reply.body)
            XCTAssertEqual(reply.result?["resultType"] as? String, "complete", "\(kind) with \(capabilities): \(reply.body)")
            XCTAssertEqual(reply.result?["isError"] as? Bool, true, "the child heard -32601 and failed its tool cleanly")
        }
        let parked = await broker.parking.parkedCount
        XCTAssertEqual(parked, 0)
    }

    /// Regression: the broker refuses a request for an undeclared capability within microseconds.
    /// The demo child used to write its request before registering the waiter for the answer,
    /// so such a fast refusal was dropped and the tool, and with it the HTTP request, waited
    /// forever (about one request in forty). Many quick rounds, each with a short bound, make a
    /// return of that race fail here fast and by name.
    func testModernImmediateRefusalsNeverStrandTheChildCall() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        let client = try await broker.client()
        for round in 0..<60 {
            let reply = try await withDeadline(.seconds(10), "refused roots/list, round \(round)") {
                try await client.modern(id: "r\(round)", method: "tools/call", params: Self.ask("roots"), meta: Self.meta([:]))
            }
            XCTAssertEqual(reply.result?["isError"] as? Bool, true, reply.body)
        }
        let parked = await broker.parking.parkedCount
        XCTAssertEqual(parked, 0)
    }

    func testModernBadRequestStatesAreRefusedAndTheGoodOneStillWorks() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        let client = try await broker.client()
        let bob = try await broker.client(login: "bob")
        let alice = MCPTestClient(baseURL: client.baseURL, accessToken: client.accessToken, httpClient: client.httpClient)
        let params = Self.ask("elicitation")
        let (state, _) = try inputRequired(try await alice.modern(id: 1, method: "tools/call", params: params, meta: Self.meta(Self.everything)))
        let answer: [String: Any] = ["input-1": ["action": "accept", "content": ["ok": true]]]
        var tampered = Array(state.utf8)
        tampered[tampered.count / 2] = tampered[tampered.count / 2] == UInt8(ascii: "x") ? UInt8(ascii: "y") : UInt8(ascii: "x")

        let refused: [(String, MCPReply)] = [
            ("tampered", try await alice.modern(id: 2, method: "tools/call",
                                                params: Self.retry(params, state: String(decoding: tampered, as: UTF8.self), responses: answer),
                                                meta: Self.meta(Self.everything))),
            ("garbage", try await alice.modern(id: 3, method: "tools/call", params: Self.retry(params, state: "not-a-state", responses: answer),
                                               meta: Self.meta(Self.everything))),
            ("other user's", try await bob.modern(id: 4, method: "tools/call", params: Self.retry(params, state: state, responses: answer),
                                                  meta: Self.meta(Self.everything))),
            ("changed params", try await alice.modern(id: 5, method: "tools/call",
                                                      params: Self.retry(Self.ask("roots"), state: state, responses: answer),
                                                      meta: Self.meta(Self.everything))),
            ("other method", try await alice.modern(id: 6, method: "prompts/get",
                                                    params: Self.retry(["name": "ask"], state: state, responses: answer),
                                                    meta: Self.meta(Self.everything))),
            ("state not a string", try await alice.modern(id: 7, method: "tools/call", params: Self.retry(params, state: nil, responses: answer)
                                                            .merging(["requestState": 42]) { _, new in new }, meta: Self.meta(Self.everything))),
            ("inputResponses not an object", try await alice.modern(id: 8, method: "tools/call",
                                                                    params: Self.retry(params, state: state, responses: nil)
                                                                        .merging(["inputResponses": [1, 2]]) { _, new in new },
                                                                    meta: Self.meta(Self.everything))),
        ]
        for (name, reply) in refused {
            XCTAssertEqual(reply.status, 400, "\(name): \(reply.body)")
            XCTAssertEqual(reply.errorCode, -32602, "\(name): \(reply.body)")
            XCTAssertNotNil(reply.final["id"] as? Int, name)
            XCTAssertFalse(reply.body.contains(state), "\(name): the state is never echoed in errors")
        }

        let withoutCapability = try await alice.modern(id: 9, method: "tools/call", params: Self.retry(params, state: state, responses: answer),
                                                       meta: Self.meta(["sampling": [String: Any]()]))
        XCTAssertEqual(withoutCapability.status, 400, withoutCapability.body)
        XCTAssertEqual(withoutCapability.errorCode, -32021, "the retry must declare what the pending input needs")
        let required = (withoutCapability.error?["data"] as? [String: Any])?["requiredCapabilities"] as? [String: Any]
        XCTAssertNotNil((required?["elicitation"] as? [String: Any])?["form"], withoutCapability.body)

        let missing = try await alice.modern(id: 10, method: "tools/call", params: Self.retry(params, state: state, responses: ["other": [:]]),
                                             meta: Self.meta(Self.everything))
        let (again, request) = try inputRequired(missing)
        XCTAssertEqual(request["method"] as? String, "elicitation/create", "missing input is asked for again, not an error")
        XCTAssertNotEqual(again, state)

        let replayOfFirst = try await alice.modern(id: 11, method: "tools/call", params: Self.retry(params, state: state, responses: answer),
                                                   meta: Self.meta(Self.everything))
        XCTAssertEqual(replayOfFirst.status, 400, "asking again consumed the first state: \(replayOfFirst.body)")
        XCTAssertEqual(replayOfFirst.errorCode, -32602)

        let done = try await alice.modern(id: 12, method: "tools/call", params: Self.retry(params, state: again, responses: answer),
                                          meta: Self.meta(Self.everything))
        XCTAssertEqual(done.status, 200, done.body)
        XCTAssertEqual(done.structured?["method"] as? String, "elicitation/create", "every refusal left the parked call intact")

        let replay = try await alice.modern(id: 13, method: "tools/call", params: Self.retry(params, state: again, responses: answer),
                                            meta: Self.meta(Self.everything))
        XCTAssertEqual(replay.status, 400, "single use: \(replay.body)")
        XCTAssertEqual(replay.errorCode, -32602)
        let pending = await broker.host.pendingRequests(userID: 101)
        XCTAssertEqual(pending, 0)
    }

    func testModernUnansweredInputExpiresAndIsCancelledOnTheChild() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        await broker.parking.setTimeout(.milliseconds(300))
        let client = try await broker.client()
        let params = Self.ask("elicitation")
        let (state, _) = try inputRequired(try await client.modern(method: "tools/call", params: params, meta: Self.meta(Self.everything)))
        let parked = await broker.parking.parkedCount
        XCTAssertEqual(parked, 1)
        let cancelled = await eventually {
            let parked = await broker.parking.parkedCount
            let pending = await broker.host.pendingRequests(userID: 101)
            return parked == 0 && pending == 0
        }
        XCTAssertTrue(cancelled, "the parked call was cancelled on the child when its time ran out")
        let late = try await client.modern(id: 2, method: "tools/call",
                                           params: Self.retry(params, state: state, responses: ["input-1": ["action": "decline"]]),
                                           meta: Self.meta(Self.everything))
        XCTAssertEqual(late.status, 400, late.body)
        XCTAssertEqual(late.errorCode, -32602)
        XCTAssertTrue((late.error?["message"] as? String ?? "").contains("expired"), late.body)
        let after = try await client.modern(id: 3, method: "tools/call", params: ["name": "whoami", "arguments": [:]])
        XCTAssertEqual(after.structured?["login"] as? String, "alice", "the child is free again: \(after.body)")
    }

    /// The bridge attributes a child's request to a call only when that call is the only one
    /// pending; with a parked call (and a slow one) pending too, the pool gives it to the only
    /// call able to take input. Both parked calls then resume independently.
    func testModernSecondCallAsksWhileAnotherIsParkedAndASlowCallRuns() async throws {
        let broker = try await MCPTestBroker.start()
        defer { Task { await broker.stop() } }
        let client = try await broker.client()
        let (first, _) = try inputRequired(try await client.modern(id: "a", method: "tools/call", params: Self.ask("elicitation"),
                                                                    meta: Self.meta(Self.everything)))
        let slowClient = client
        let slow = Task { try await slowClient.modern(id: "slow", method: "tools/call", params: ["name": "sleep", "arguments": ["ms": 400]]) }
        let busy = await eventually { await broker.host.pendingRequests(userID: 101) == 2 }
        XCTAssertTrue(busy)
        let (second, request) = try inputRequired(try await client.modern(id: "b", method: "tools/call", params: Self.ask("roots"),
                                                                          meta: Self.meta(Self.everything)))
        XCTAssertEqual(request["method"] as? String, "roots/list", "attributed to the only call that can take input")

        let roots = try await client.modern(id: "b2", method: "tools/call",
                                            params: Self.retry(Self.ask("roots"), state: second, responses: ["input-1": ["roots": []]]),
                                            meta: Self.meta(Self.everything))
        XCTAssertEqual(roots.structured?["method"] as? String, "roots/list", roots.body)
        let elicitation = try await client.modern(id: "a2", method: "tools/call",
                                                  params: Self.retry(Self.ask("elicitation"), state: first,
                                                                     responses: ["input-1": ["action": "decline"]]),
                                                  meta: Self.meta(Self.everything))
        XCTAssertEqual(elicitation.structured?["method"] as? String, "elicitation/create", elicitation.body)
        XCTAssertEqual((elicitation.structured?["result"] as? [String: Any])?["action"] as? String, "decline")
        let slept = try await slow.value
        XCTAssertEqual(slept.structured?["ms"] as? Int, 400, slept.body)
        // The SSE answer of `slow` closed its connection; the next request must not fail on it.

        // Two calls able to take input at once: a request of theirs is ambiguous and refused.
        let one = Task { try await ModernMRTRTests.sleepDeclaringEverything(slowClient, id: "x", ms: 300) }
        let running = await eventually { await broker.host.pendingRequests(userID: 101) == 1 }
        XCTAssertTrue(running)
        let ambiguous = try await client.modern(id: "y", method: "tools/call", params: Self.ask("roots"), meta: Self.meta(Self.everything))
        XCTAssertEqual(ambiguous.result?["isError"] as? Bool, true, "refused to the child, never guessed: \(ambiguous.body)")
        _ = try await one.value
    }
}
