import Foundation
import XCTest

@testable import BrokerKit

final class BridgeChildTests: XCTestCase {
    private var bridges: [ChildBridge] = []

    override func tearDown() async throws {
        for bridge in bridges { await bridge.stop() }
    }

    private func makeBridge(_ options: [String] = ["--no-forgejo-check"], logs: LogCapture = LogCapture()) async throws
        -> ChildBridge
    {
        var spec = DemoBinary.spec(options)
        spec.stderrRateLimit = LogRateLimit(burst: 10_000, perSecond: 10_000)
        let child = ChildProcess(spec: spec, sessionID: "s-bridge", logger: logs.logger)
        let bridge = ChildBridge(child: child, logger: logs.logger)
        try await bridge.start()
        bridges.append(bridge)
        let initialize = try await bridge.send(try JSONRPCMessage(initializeLine(id: 0)))
        _ = await collect(initialize)
        try await bridge.forwardNotification(try message(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#))
        return bridge
    }

    private func message(_ text: String) throws -> JSONRPCMessage {
        try JSONRPCMessage(Array(text.utf8))
    }

    func testConcurrentRequestsWithCollidingIDsPairCorrectly() async throws {
        let bridge = try await makeBridge()
        let results = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for index in 0..<20 {
                let request = try message(
                    #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":\#((20 - index) * 5)}}}"#
                )
                group.addTask {
                    let call = try await bridge.send(request, origin: "caller-\(index)")
                    return (index, await collect(call).response)
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        XCTAssertEqual(results.count, 20)
        for (index, response) in results {
            let text = try XCTUnwrap(response)
            XCTAssertTrue(text.contains(#""id":1"#), text)
            XCTAssertTrue(text.contains(#""ms":\#((20 - index) * 5)"#), "request \(index) got \(text)")
        }
        let pending = bridge.pendingCount
        XCTAssertEqual(pending, 0)
    }

    func testProgressIsRoutedWithTheClientsToken() async throws {
        let bridge = try await makeBridge()
        let requests = try ["a", "b"].map { origin in
            try message(
                #"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"progress","arguments":{"steps":\#(origin == "a" ? 3 : 5),"intervalMs":5},"_meta":{"progressToken":"tok"}}}"#
            )
        }
        let callA = try await bridge.send(requests[0], origin: "a")
        let callB = try await bridge.send(requests[1], origin: "b")
        async let first = collect(callA)
        async let second = collect(callB)
        let (a, b) = await (first, second)
        XCTAssertEqual(a.messages.count, 3)
        XCTAssertEqual(b.messages.count, 5)
        for progress in a.messages + b.messages {
            XCTAssertTrue(progress.contains(#""progressToken":"tok""#), progress)
        }
        XCTAssertTrue(a.response?.contains("completed 3 steps") ?? false)
        XCTAssertTrue(b.response?.contains("completed 5 steps") ?? false)
    }

    func testServerToClientRequestRoundTrip() async throws {
        let bridge = try await makeBridge()
        let call = try await bridge.send(
            try message(toolCallLine(id: #""ask-1""#, tool: "ask", arguments: #"{"kind":"roots"}"#).string))
        var iterator = call.events.makeAsyncIterator()
        guard case .message(let requestBytes)? = await iterator.next() else { return XCTFail("expected roots/list") }
        let serverRequest = try JSONRPCMessage(requestBytes)
        XCTAssertEqual(serverRequest.kind, .request)
        XCTAssertEqual(serverRequest.method, "roots/list")
        guard case .string(let brokerID)? = serverRequest.id else { return XCTFail("expected a broker id") }
        XCTAssertTrue(brokerID.hasPrefix("fjmcp-"), "the child's own id must not leak: \(brokerID)")
        let answer = try message(
            #"{"jsonrpc":"2.0","id":"\#(brokerID)","result":{"roots":[{"uri":"file:///r","name":"r"}]}}"#)
        let delivered = await bridge.deliverClientResponse(answer)
        XCTAssertTrue(delivered)
        let duplicate = await bridge.deliverClientResponse(answer)
        XCTAssertFalse(duplicate, "an id is answered once")
        guard case .response(let responseBytes)? = await iterator.next() else { return XCTFail("expected the result") }
        let response = String(decoding: responseBytes, as: UTF8.self)
        XCTAssertTrue(response.contains(#""id":"ask-1""#), response)
        XCTAssertTrue(response.contains("file:///r"), response)
    }

    func testCancellationReachesTheChild() async throws {
        let logs = LogCapture()
        let bridge = try await makeBridge(["--no-forgejo-check", "--noisy-stderr"], logs: logs)
        let call = try await bridge.send(try message(toolCallLine(id: "9", tool: "sleep", arguments: #"{"ms":60000}"#).string))
        await bridge.cancel(clientID: .int(9))
        let outcome = await collect(call)
        XCTAssertNil(outcome.response, "a cancelled request gets no response")
        let seen = await eventually { logs.messages.contains { $0.contains("received notifications/cancelled") } }
        XCTAssertTrue(seen)
        let echo = await collect(try bridge.send(try message(toolCallLine(id: "10", tool: "echo", arguments: #"{"text":"still here"}"#).string)))
        XCTAssertTrue(echo.response?.contains("still here") ?? false)
    }

    func testClientCancelledNotificationIsTranslated() async throws {
        let logs = LogCapture()
        let bridge = try await makeBridge(["--no-forgejo-check", "--noisy-stderr"], logs: logs)
        let call = try await bridge.send(
            try message(toolCallLine(id: #""s""#, tool: "sleep", arguments: #"{"ms":60000}"#).string), origin: "x")
        try await bridge.forwardNotification(
            try message(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"s"}}"#), origin: "other")
        let stillPending = bridge.pendingCount
        XCTAssertEqual(stillPending, 1, "another caller cannot cancel it")
        try await bridge.forwardNotification(
            try message(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"s"}}"#), origin: "x")
        let outcome = await collect(call)
        XCTAssertNil(outcome.response)
        let seen = await eventually { logs.messages.contains { $0.contains("received notifications/cancelled") } }
        XCTAssertTrue(seen)
    }

    func testChildCrashFailsPendingRequestsWithOriginalIDs() async throws {
        let bridge = try await makeBridge()
        let slowA = try await bridge.send(try message(toolCallLine(id: #""a""#, tool: "sleep", arguments: #"{"ms":60000}"#).string))
        let slowB = try await bridge.send(try message(toolCallLine(id: "7", tool: "sleep", arguments: #"{"ms":60000}"#).string))
        _ = try await bridge.send(try message(toolCallLine(id: "8", tool: "crash", arguments: #"{"code":2}"#).string))
        for (call, id) in [(slowA, #""id":"a""#), (slowB, #""id":7"#)] {
            let collected = await collect(call)
            let response = try XCTUnwrap(collected.response)
            XCTAssertTrue(response.contains(id), response)
            XCTAssertTrue(response.contains("-32603"), response)
            XCTAssertTrue(response.contains("exited"), response)
        }
        for await _ in bridge.serverStream {}
        // A request after the exit never reaches a child: the caller learns it can send it elsewhere.
        let late = try message(toolCallLine(id: "11", tool: "echo", arguments: #"{"text":"x"}"#).string)
        do throws(BridgeError) {
            _ = try await bridge.send(late)
            XCTFail("a request to an exited child must not look sent")
        } catch {
            XCTAssertEqual(error, .childGone)
        }
    }

    func testRejectsWrongMessageKinds() async throws {
        let bridge = try await makeBridge()
        let notification = try message(#"{"jsonrpc":"2.0","method":"n"}"#)
        let request = try message(#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        do throws(BridgeError) {
            _ = try await bridge.send(notification)
            XCTFail("a notification is not a request")
        } catch {
            XCTAssertEqual(error, .notARequest)
        }
        do throws(BridgeError) {
            try await bridge.forwardNotification(request)
            XCTFail("a request is not a notification")
        } catch {
            XCTAssertEqual(error, .notANotification)
        }
        let unknown = await bridge.deliverClientResponse(try message(#"{"jsonrpc":"2.0","id":"fjmcp-x-1","result":{}}"#))
        XCTAssertFalse(unknown)
    }

    func testUnrelatedChildMessagesGoToTheServerStream() async throws {
        let bridge = try await makeBridge(["--no-forgejo-check", "--oversized-line", "1000"])
        // The demo child writes its oversized (but allowed) notification right after its first
        // result, the initialize answer. It is read before anything else is sent: a call pending
        // when it arrives would be its sole recipient (a single pending call takes the child's
        // unaddressed messages), and the server stream would wait for ever.
        var iterator = bridge.serverStream.makeAsyncIterator()
        let unrelated = await iterator.next().map { String(decoding: $0, as: UTF8.self) }
        XCTAssertTrue(unrelated?.contains("notifications/message") ?? false)
        let echo = await collect(try bridge.send(try message(toolCallLine(id: "1", tool: "echo", arguments: #"{"text":"x"}"#).string)))
        XCTAssertEqual(echo.messages, [], "nothing else was unaddressed")
        XCTAssertNotNil(echo.response)
    }
}

private func collect(_ call: BridgeCall) async -> (messages: [String], response: String?) {
    var messages: [String] = []
    var response: String?
    for await event in call.events {
        switch event {
        case .message(let bytes): messages.append(String(decoding: bytes, as: UTF8.self))
        case .response(let bytes): response = String(decoding: bytes, as: UTF8.self)
        }
    }
    return (messages, response)
}

extension Array where Element == UInt8 {
    var string: String { String(decoding: self, as: UTF8.self) }
}
