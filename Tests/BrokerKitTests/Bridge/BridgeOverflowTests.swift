import Foundation
import XCTest

@testable import BrokerKit

/// A call whose reader falls behind a flooding child ends on its own; the bridge goes on.
final class BridgeOverflowTests: XCTestCase {
    private var bridge: ChildBridge?

    override func tearDown() async throws {
        await bridge?.stop()
    }

    private func start() async throws -> ChildBridge {
        let child = ChildProcess(spec: DemoBinary.spec(["--no-forgejo-check", "--flood"]), sessionID: "s-flood", logger: LogCapture().logger)
        let bridge = ChildBridge(child: child, logger: LogCapture().logger)
        self.bridge = bridge
        try await bridge.start()
        for await _ in try await bridge.send(try JSONRPCMessage(initializeLine(id: 0))).events {}
        return bridge
    }

    private func request(_ id: Int, _ tool: String, _ arguments: String, token: Bool = true) throws -> JSONRPCMessage {
        let meta = token ? #","_meta":{"progressToken":"p\#(id)"}"# : ""
        return try JSONRPCMessage(Array(
            #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"\#(tool)","arguments":\#(arguments)\#(meta)}}"#.utf8))
    }

    /// Reads `inbox` to its end: the side messages' bytes and the answer.
    private func drain(_ inbox: CallInbox) async -> (messageBytes: Int, answer: String?) {
        var messageBytes = 0
        var answer: String?
        while true {
            switch await inbox.next(until: .now + .seconds(10)) {
            case .item(.message(let bytes)): messageBytes += bytes.count
            case .item(.response(let bytes)): answer = String(decoding: bytes, as: UTF8.self)
            case .tick, .ended: return (messageBytes, answer)
            }
        }
    }

    func testACallNobodyReadsEndsWithTheOverflowErrorAndTheChildStopsWorkingOnIt() async throws {
        let bridge = try await start()
        let limit = 256 << 10
        let inbox = CallInbox(limit: limit, overflowKind: .call)
        // 64 MiB asked for; a polite flood stops at the cancellation the overflow sends.
        _ = try await bridge.send(try request(1, "flood", #"{"bytes":67108864}"#), into: inbox)
        // Nobody reads until the call has ended: everything still buffered then is what a reader
        // that never came would have cost.
        let ended = await eventually { bridge.pendingCount == 0 }
        XCTAssertTrue(ended, "the call ended on its own")
        let (messageBytes, answer) = await drain(inbox)
        XCTAssertEqual(messageBytes, 0, "what was buffered went with the overflow: the reader gets the error at once")
        let text = try XCTUnwrap(answer)
        XCTAssertTrue(text.contains(#""id":1"#) && text.contains("-32603") && text.contains("\(limit) bytes"), text)

        let next = try await bridge.send(try request(2, "echo", #"{"text":"still here"}"#, token: false))
        let response = await next.response(within: .seconds(10))
        XCTAssertTrue(String(decoding: try XCTUnwrap(response), as: UTF8.self).contains("still here"),
                      "the child took the cancellation and answers the next call")
    }

    /// The bound is 64 lines deep, so a reader the scheduler leaves waiting for tens of
    /// milliseconds on a loaded machine still counts as keeping up (the child is read as fast as
    /// it writes, whether or not the reader runs).
    func testAReaderThatKeepsUpGetsTheWholeFlood() async throws {
        let bridge = try await start()
        let inbox = CallInbox(limit: 1 << 20, overflowKind: .call)
        _ = try await bridge.send(try request(3, "flood", #"{"bytes":16777216,"lineBytes":16384}"#), into: inbox)
        let (received, answer) = await drain(inbox)
        XCTAssertGreaterThanOrEqual(received, 16_000_000, "16 times the bound went through a reader that kept up")
        XCTAssertTrue(answer?.contains("flooded") == true, answer ?? "no answer")
    }

    /// Messages for no single call wait for the server stream's reader within its bound; past
    /// it they are dropped (the child is read as fast as it writes) and the calls go on.
    func testMessagesForNoSingleCallWaitWithinTheServerStreamBound() async throws {
        let limit = 256 << 10
        let (bridge, _) = try await floodForNoSingleCall(serverLimit: limit)
        var held = 0
        for await message in bridge.serverStream { held += message.count }
        XCTAssertGreaterThan(held, 0, "messages for no single call reached the stream")
        XCTAssertLessThanOrEqual(held, limit, "no more than the bound waited for a reader that never came")
    }

    /// A reader that reports what it took (as a session's pump does) keeps the stream open: far
    /// more than the bound passes in all.
    func testAReaderThatReportsWhatItTookGetsMoreThanTheBound() async throws {
        let limit = 256 << 10
        let (_, received) = try await floodForNoSingleCall(serverLimit: limit) { bridge in
            Task {
                var received = 0
                for await message in bridge.serverStream {
                    bridge.serverMessageTaken(message.count)
                    received += message.count
                }
                return received
            }
        }
        XCTAssertGreaterThan(try XCTUnwrap(received), limit)
    }

    /// Two flood calls while a long sleep is pending, so that their log messages belong to no
    /// single call and go to the server stream whatever the scheduling (with only the first flood
    /// sent, its messages would be its own), with `reading` (if any) started on the stream first;
    /// returns once the child answered both and was stopped (the stream has ended), with what
    /// `reading` returned.
    private func floodForNoSingleCall(serverLimit: Int, reading: ((ChildBridge) -> Task<Int, Never>)? = nil) async throws
        -> (ChildBridge, Int?)
    {
        let child = ChildProcess(spec: DemoBinary.spec(["--no-forgejo-check", "--flood"]), sessionID: "s-flood", logger: LogCapture().logger)
        let bridge = ChildBridge(child: child, logger: LogCapture().logger, serverLimit: serverLimit)
        self.bridge = bridge
        try await bridge.start()
        for await _ in try await bridge.send(try JSONRPCMessage(initializeLine(id: 0))).events {}
        let reader = reading?(bridge)
        let sleeping = try await bridge.send(try request(3, "sleep", #"{"ms":60000}"#, token: false))
        let calls = [try await bridge.send(try request(1, "flood", #"{"bytes":4194304}"#, token: false)),
                     try await bridge.send(try request(2, "flood", #"{"bytes":4194304}"#, token: false))]
        var answers = 0
        for call in calls {
            for await event in call.events { if case .response = event { answers += 1 } }
        }
        XCTAssertEqual(answers, 2, "both calls were answered")
        await bridge.cancel(sleeping.ticket)
        await bridge.stop()
        return (bridge, await reader?.value)
    }

    /// A server→client request for no single call that the full server stream cannot take is
    /// refused to the child at once: nobody would ever answer it, and the tool would wait for ever.
    func testARequestTheFullServerStreamCannotTakeIsRefusedToTheChild() async throws {
        let child = ChildProcess(spec: DemoBinary.spec(["--no-forgejo-check", "--notify"]), sessionID: "s-full", logger: LogCapture().logger)
        let bridge = ChildBridge(child: child, logger: LogCapture().logger, serverLimit: 1)
        self.bridge = bridge
        try await bridge.start()
        for await _ in try await bridge.send(try JSONRPCMessage(initializeLine(id: 0))).events {}
        // With two calls pending, `notify`'s notification belongs to neither: it fills the stream
        // (nobody reads it), and the `ask` after it has nowhere to go.
        let sleeping = try await bridge.send(try request(1, "sleep", #"{"ms":5000}"#, token: false))
        let notified = try await bridge.send(try request(2, "notify", #"{"kind":"tools"}"#, token: false))
        let notifiedAnswer = await notified.response(within: .seconds(10))
        XCTAssertNotNil(notifiedAnswer)
        let asked = try await bridge.send(try request(3, "ask", #"{"kind":"elicitation"}"#, token: false))
        let response = await asked.response(within: .seconds(10))
        let answer = String(decoding: try XCTUnwrap(response), as: UTF8.self)
        XCTAssertTrue(answer.contains("not available") && answer.contains("not reading"), answer)
        await bridge.cancel(sleeping.ticket)
    }
}
