import AsyncHTTPClient
import Foundation
import XCTest

/// The forwarding hop between two `fjmcp-broker serve` replicas on one PostgreSQL database: a
/// request that lands on B for a session or user whose child A holds is served by A's child,
/// JSON and SSE streaming both ways, GET and DELETE included; an MRTR retry sent to B completes
/// the call parked on A. A forged hop header is 403; a request for a holder that died waits for
/// its heartbeat to lapse, then B takes the session over and answers it.
final class ReplicaHopBinaryTests: PostgresReplicaTestCase {

    /// Two replicas (A, B) whose demo children have the `notify` tool. A short heartbeat and
    /// lapse, so a killed replica's sessions are taken over within seconds.
    private func startReplicas() async throws -> (ServedBroker, ServedBroker) {
        let started = try await startReplicas(2, settings: [
            "FJMCP_CHILD_COMMAND": MCPDemo.path + " --notify", "FJMCP_REPLICA_HEARTBEAT": "300ms", "FJMCP_REPLICA_LAPSE": "3s",
        ])
        return (started[0], started[1])
    }

    /// `client`'s session, as a client that sends its next request to `broker` sees it.
    private func same(_ client: MCPTestClient, on broker: ServedBroker) -> MCPTestClient {
        var moved = MCPTestClient(baseURL: broker.baseURL, accessToken: client.accessToken, httpClient: broker.httpClient)
        moved.sessionID = client.sessionID
        moved.protocolVersion = client.protocolVersion
        return moved
    }

    private func pid(_ reply: MCPReply, file: StaticString = #filePath, line: UInt = #line) -> Int? {
        XCTAssertEqual(reply.status, 200, reply.body, file: file, line: line)
        return reply.structured?["pid"] as? Int
    }

    private func hops(_ broker: ServedBroker, _ outcome: String) async throws -> Double {
        let response = try await broker.httpClient.execute(HTTPClientRequest(url: broker.baseURL + "/metrics"), timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 8 << 20))
        return MetricsSnapshot(text: text).value(#"fjmcp_replica_hops_total{outcome="\#(outcome)"}"#)
    }

    /// The next message of `stream` that is not a keep-alive, or nil when none comes in time.
    private func next(_ stream: MCPStream, within seconds: Int = 10) async -> [String: Any]? {
        let text = await withTaskGroup(of: String?.self) { group in
            group.addTask { for await text in stream.messages { return text }; return nil }
            group.addTask { try? await Task.sleep(for: .seconds(seconds)); return nil }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        return text.flatMap(MCPReply.object)
    }

    /// Reads the child's elicitation from the `ask` tool's SSE answer, posts the client's answer
    /// through `client` (202) and returns the call's final message (the tool echoes the answer).
    private func answerElicitation(on ask: MCPStream, through client: MCPTestClient,
                                   file: StaticString = #filePath, line: UInt = #line) async throws -> [String: Any] {
        let asked = await next(ask)
        let question = try XCTUnwrap(asked, "the child's elicitation", file: file, line: line)
        XCTAssertEqual(question["method"] as? String, "elicitation/create", "\(question)", file: file, line: line)
        let answer = try await client.post(MCPTestClient.json([
            "jsonrpc": "2.0", "id": question["id"] ?? NSNull(), "result": ["action": "accept", "content": ["ok": true]],
        ]))
        XCTAssertEqual(answer.status, 202, answer.body, file: file, line: line)
        let answered = await next(ask)
        let result = try XCTUnwrap(answered, "the call completed with the answer", file: file, line: line)
        let structured = (result["result"] as? [String: Any])?["structuredContent"] as? [String: Any]
        XCTAssertEqual(structured?["method"] as? String, "elicitation/create", "\(result)", file: file, line: line)
        return result
    }

    /// A legacy session opened on `a` (its child's pid) and the same session as a client
    /// sending to `b` sees it.
    private func sessionOnA(_ a: ServedBroker, _ b: ServedBroker) async throws -> (onA: MCPTestClient, onB: MCPTestClient, pidA: Int) {
        var onA = try await a.client().client
        _ = try await onA.initialize()
        let first = try await onA.tool(id: 1, "whoami")
        return (onA, same(onA, on: b), try XCTUnwrap(pid(first)))
    }

    func testALegacySessionOpenedOnAIsServedThroughBWithSSEBothWaysListenAndDelete() async throws {
        let (a, b) = try await startReplicas()
        let (onA, onB, pidA) = try await sessionOnA(a, b)
        let forwardedBefore = try await hops(b, "forwarded")

        // JSON: answered by A's child.
        let throughB = try await onB.tool(id: 2, "whoami")
        XCTAssertEqual(pid(throughB), pidA)
        let forwardedAfter = try await hops(b, "forwarded")
        XCTAssertGreaterThan(forwardedAfter, forwardedBefore, "B forwarded the call")

        // SSE both ways: the child's elicitation comes through B's relay while the call waits
        // (an answer buffered until the end would never arrive), and the client's answer, posted
        // to B, reaches the child on A.
        let ask = try await onB.stream(onB.request(body: MCPTestClient.body(id: 3, method: "tools/call", params: [
            "name": "ask", "arguments": ["kind": "elicitation"],
        ])))
        XCTAssertEqual(ask.status, 200)
        XCTAssertEqual(ask.headers["content-type"].first, "text/event-stream")
        let result = try await answerElicitation(on: ask, through: onB)
        XCTAssertEqual(result["id"] as? Int, 3, "\(result)")

        // GET: A's session stream, through B, carries a notification the child sends outside any call.
        let listen = try await onB.stream(onB.request(.GET))
        XCTAssertEqual(listen.status, 200)
        XCTAssertEqual(listen.headers["content-type"].first, "text/event-stream")
        let notified = try await onA.tool(id: 4, "notify", ["kind": "tools", "delayMs": 200])
        XCTAssertEqual(notified.status, 200, notified.body)
        let change = await next(listen)
        XCTAssertEqual(change?["method"] as? String, "notifications/tools/list_changed", "\(change ?? [:])")
        listen.close()

        // DELETE through B ends the session on A.
        let deleted = try await onB.delete()
        XCTAssertEqual(deleted.status, 204, deleted.body)
        let afterDelete = try await onA.tool(id: 5, "whoami")
        XCTAssertEqual(afterDelete.status, 404, afterDelete.body)
    }

    func testA2026RequestOnBRunsOnTheUsersChildOnAAndAnMRTRRetryOnBCompletesTheCallParkedOnA() async throws {
        let (a, b) = try await startReplicas()
        let onA = try await a.client().client
        let onB = same(onA, on: b)
        let onOwner = try await onA.modern(id: "w1", method: "tools/call", params: ["name": "whoami", "arguments": [:]])
        let pidA = try XCTUnwrap(pid(onOwner))
        let throughB = try await onB.modern(id: "w2", method: "tools/call", params: ["name": "whoami", "arguments": [:]])
        XCTAssertEqual(pid(throughB), pidA)

        // The call parks on A (its child waits for the elicitation answer); the retry goes to B.
        let meta = ModernEraTests.meta(extra: ["io.modelcontextprotocol/clientCapabilities": ["elicitation": [String: Any]()]])
        let ask: [String: Any] = ["name": "ask", "arguments": ["kind": "elicitation"]]
        let first = try await onA.modern(id: "ask-1", method: "tools/call", params: ask, meta: meta)
        XCTAssertEqual(first.result?["resultType"] as? String, "input_required", first.body)
        let state = try XCTUnwrap(first.result?["requestState"] as? String, first.body)
        var retry = ask
        retry["requestState"] = state
        retry["inputResponses"] = ["input-1": ["action": "accept", "content": ["ok": true]]]
        let second = try await onB.modern(id: "ask-2", method: "tools/call", params: retry, meta: meta)
        XCTAssertEqual(second.status, 200, second.body)
        XCTAssertEqual(second.final["id"] as? String, "ask-2")
        XCTAssertEqual(second.result?["resultType"] as? String, "complete", second.body)
        XCTAssertEqual(second.structured?["method"] as? String, "elicitation/create", second.body)

        // subscriptions/listen on B hears A's child.
        let (body, headers) = ModernEraTests.request(id: "sub", method: "subscriptions/listen", params: ["notifications": ["toolsListChanged": true]])
        let stream = try await onB.stream(onB.request(body: body, headers: headers))
        XCTAssertEqual(stream.status, 200)
        let ack = await next(stream)
        XCTAssertEqual(ack?["method"] as? String, "notifications/subscriptions/acknowledged", "\(ack ?? [:])")
        _ = try await onA.modern(id: "n", method: "tools/call", params: ["name": "notify", "arguments": ["kind": "tools", "delayMs": 100]])
        let change = await next(stream)
        XCTAssertEqual(change?["method"] as? String, "notifications/tools/list_changed", "\(change ?? [:])")
        stream.close()
    }

    /// A session-less client's answer to the child's question, posted to B, reaches the user's
    /// child on A (it would otherwise be dropped on B, which runs no child for the user).
    func testASessionlessAnswerPostedToBReachesTheUsersChildOnA() async throws {
        let (a, b) = try await startReplicas()
        var onA = try await a.client().client
        // Its initialize declares elicitation; it then drops the session id, as some connectors do.
        _ = try await onA.initialize()
        onA.sessionID = nil
        let onB = same(onA, on: b)
        let ask = try await onA.stream(onA.request(body: MCPTestClient.body(id: 6, method: "tools/call", params: [
            "name": "ask", "arguments": ["kind": "elicitation"],
        ])))
        let result = try await answerElicitation(on: ask, through: onB)
        XCTAssertEqual(result["id"] as? Int, 6, "\(result)")
    }

    func testAForgedHopHeaderIs403AndItsValueIsNotLogged() async throws {
        let (a, _) = try await startReplicas()
        var client = try await a.client().client
        _ = try await client.initialize()
        let forged = "v1.intruder.\(Int(Date().timeIntervalSince1970 * 1000)).c2VjcmV0LWxvb2tpbmctbWFjLXZhbHVlLTEyMzQ1Njc4"
        let reply = try await client.post(MCPTestClient.body(id: 1, method: "tools/list"), headers: [
            ("Fjmcp-Replica-Hop", forged), ("Fjmcp-Replica-Client", "198.51.100.1"),
        ])
        XCTAssertEqual(reply.status, 403, reply.body)
        XCTAssertEqual(reply.errorCode, -32600, reply.body)
        let stderr = a.process?.stderr ?? ""
        XCTAssertTrue(stderr.contains("replica hop refused"), stderr)
        XCTAssertFalse(stderr.contains("c2VjcmV0LWxvb2tpbmctbWFj"), "the header's value was logged")
    }

    func testARequestForAHolderThatDiedWaitsForItsLapseAndIsAnsweredByBsResumedChild() async throws {
        let (a, b) = try await startReplicas()
        let (onA, onB, pidA) = try await sessionOnA(a, b)
        a.process?.signal(SIGKILL)
        _ = await a.process?.waitForExit(timeout: .seconds(10))

        // Not failed (the client would see an error for a call that never reached a child): B
        // waits until A's heartbeat lapses (3 s), then resumes the session on a child of its own.
        let started = ContinuousClock.now
        let resumed = try await onB.tool(id: 2, "whoami")
        let pidB = try XCTUnwrap(pid(resumed))
        XCTAssertNotEqual(pidB, pidA, "B resumed the session on a child of its own")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10), "within the lapse and a margin")
        let again = try await onB.tool(id: 3, "whoami")
        XCTAssertEqual(pid(again), pidB)
    }
}
