import AsyncHTTPClient
@testable import BrokerKit
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Synchronization
import XCTest

/// The hop over real loopback sockets between two in-process routers with the broker's own
/// middleware stack: "B" (where the client's request lands; its handler says the child is held
/// by "A") forwards to "A" (which serves it). The handlers stand in for `MCPEndpoint`'s.
final class ReplicaHopMiddlewareTests: XCTestCase {
    private static let secret = [UInt8](repeating: 5, count: 32)

    /// One replica's test handler state: where it believes the child lives (nil: here), and its
    /// SSE answer's gate and cancellation report.
    final class Replica: Sendable {
        let id: String
        let hop: HopSettings
        let holder = Mutex<ReplicaRecord?>(nil)
        let gate = AsyncStream<Void>.makeStream()
        let cancelled = Mutex(false)
        /// How often its handler ran.
        let attempts = Mutex(0)
        /// Its placement's memo of holders, which the hop forgets an unreachable holder in.
        let memo: ReplicaHolderMemo
        init(id: String, hop: HopSettings = HopSettings()) {
            self.id = id
            self.hop = hop
            memo = ReplicaHolderMemo(lapse: hop.lapse)
        }
    }

    /// A replica's hop middleware settings.
    struct HopSettings: Sendable {
        var patience: Duration = .seconds(1)
        /// The test handler serves a request itself once its holder's last beat is this old.
        var lapse: Duration = .seconds(60)
        var headTimeout: Duration = .seconds(30)
        var keepAliveInterval: Duration = .seconds(15)
    }

    struct Routes: RouteProvider {
        let replica: Replica

        func addRoutes(to router: Router<BrokerRequestContext>) {
            let hop = ReplicaHopMiddleware(identity: ReplicaIdentity(address: "http://\(replica.id).test", id: replica.id),
                                           masterKey: ReplicaHopMiddlewareTests.secret, previousMasterKeys: [],
                                           lapse: replica.hop.lapse, patience: replica.hop.patience,
                                           keepAliveInterval: replica.hop.keepAliveInterval, headTimeout: replica.hop.headTimeout,
                                           holders: replica.memo)
            let group = router.group("/mcp").add(middleware: hop)
            group.post { request, context in try await self.handle(request, context: context) }
            group.get { request, context in try await self.handle(request, context: context) }
            group.delete { _, _ in Response(status: .noContent, headers: [.mcpSessionID: "gone"]) }
        }

        private func handle(_ request: Request, context: BrokerRequestContext) async throws -> Response {
            replica.attempts.withLock { $0 += 1 }
            if let holder = replica.holder.withLock({ $0 }), Date() < holder.heartbeatAt.addingTimeInterval(replica.hop.lapse.seconds) {
                throw MCPRequestError.session(.heldElsewhere(holder), rawID: Array("7".utf8), challenge: nil)
            }
            var request = request
            let body = try await request.collectBody(upTo: context.maxUploadSize)
            switch request.uri.queryParameters["mode"] {
            case "sse": return stream(request)
            case "hold": return hold(request)
            default: break
            }
            let seen: [String: String] = [
                "replica": replica.id, "method": request.method.rawValue, "path": request.head.path ?? "", "host": request.head.authority ?? "",
                "authorization": request.headers[.authorization] ?? "", "session": request.headers[.mcpSessionID] ?? "",
                "version": request.headers[.mcpProtocolVersion] ?? "", "lastEventID": request.headers[.lastEventID] ?? "",
                "origin": request.headers[.origin] ?? "", "client": context.clientAddress, "body": String(buffer: body),
                "hop": request.headers[.replicaHop] == nil ? "no" : "yes", "mcpMethod": request.headers[.mcpMethod] ?? "",
                "mcpParam": request.headers[HTTPField.Name("Mcp-Param-Text")!] ?? "", "requestID": context.requestID,
            ]
            let json = try JSONSerialization.data(withJSONObject: seen)
            return Response(status: .created, headers: [
                .contentType: "application/json", .mcpSessionID: "s-1", .wwwAuthenticate: "Bearer x", HTTPField.Name("X-Internal")!: "1",
            ], body: .init(byteBuffer: ByteBuffer(bytes: json)))
        }

        /// One event, then nothing until the client leaves.
        private func hold(_ request: Request) -> Response {
            Response(status: .ok, headers: MCPEventStream.headers, body: ResponseBody { writer in
                try? await request.body.consumeWithCancellationOnInboundClose { _ in
                    try await writer.write(MCPEventStream.event(Array(#"{"held":true}"#.utf8)))
                    try await Task.sleep(for: .seconds(120))
                }
            })
        }

        /// One event, then the next only when the test opens the gate; reports a client that left.
        private func stream(_ request: Request) -> Response {
            let replica = replica
            return Response(status: .ok, headers: MCPEventStream.headers, body: ResponseBody { writer in
                do {
                    try await request.body.consumeWithCancellationOnInboundClose { _ in
                        try await writer.write(MCPEventStream.event(Array(#"{"n":1}"#.utf8)))
                        for await _ in replica.gate.stream { break }
                        try Task.checkCancellation()
                        try await writer.write(MCPEventStream.event(Array(#"{"n":2}"#.utf8)))
                    }
                    try await writer.finish(nil)
                } catch {
                    replica.cancelled.withLock { $0 = true }
                }
            })
        }
    }

    private static func app(_ replica: Replica) throws -> some ApplicationProtocol {
        let config = try BrokerConfig.load(from: ConfigSource(environment: [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:8080", "FORGEJO_URL": "https://f.example.org",
            "FORGEJO_CLIENT_ID": "id", "FORGEJO_CLIENT_SECRET": "s",
        ]))
        let router = BrokerServer.makeRouter(config: config, checks: [], providers: [Routes(replica: replica)])
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    private static func record(_ id: String, port: Int) -> ReplicaRecord {
        ReplicaRecord(id: id, address: "http://127.0.0.1:\(port)", startedAt: Date(), heartbeatAt: Date())
    }

    /// Runs `body` with A and B listening, B believing A holds the child; the ports are A's, B's.
    private func withReplicas(b hop: HopSettings = HopSettings(),
                              _ body: @Sendable (Replica, Replica, Int, Int, HTTPClient) async throws -> Void) async throws {
        let a = Replica(id: "replica-A")
        let b = Replica(id: "replica-B", hop: hop)
        // Room for more streams than the hop's pool would allow with AsyncHTTPClient's default.
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            try await Self.app(a).test(.live) { clientA in
                let portA = try XCTUnwrap(clientA.port)
                b.holder.withLock { $0 = Self.record(a.id, port: portA) }
                try await Self.app(b).test(.live) { clientB in
                    try await body(a, b, portA, try XCTUnwrap(clientB.port), client)
                }
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    private static func post(_ port: Int, path: String = "/mcp", headers: [(String, String)] = [], body: String = #"{"id":7}"#) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        for (name, value) in [("Authorization", "Bearer t0k"), ("Content-Type", "application/json")] + headers {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(string: body))
        return request
    }

    private static func collect(_ client: HTTPClient, _ request: HTTPClientRequest) async throws -> (HTTPClientResponse, String) {
        let response = try await client.execute(request, timeout: .seconds(10))
        return (response, String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    func testARequestHeldElsewhereIsServedByTheHolderWithTheClientsHeadersBodyAndAddress() async throws {
        try await withReplicas { _, _, _, portB, client in
            let (response, text) = try await Self.collect(client, Self.post(portB, path: "/mcp?x=1", headers: [
                ("Mcp-Session-Id", "s-1"), ("MCP-Protocol-Version", "2025-11-25"), ("Origin", "http://127.0.0.1:8080"),
                ("Last-Event-ID", "e-9"), ("X-Private", "not forwarded"), ("Mcp-Method", "tools/call"), ("Mcp-Param-Text", "hi"),
                ("X-Request-Id", "trace-123"),
            ]))
            XCTAssertEqual(response.status.code, 201, text)
            let seen = try XCTUnwrap(MCPJSON.object(text))
            XCTAssertEqual(seen["replica"], "replica-A")
            XCTAssertEqual(seen["hop"], "yes")
            XCTAssertEqual(seen["method"], "POST")
            XCTAssertEqual(seen["path"], "/mcp?x=1")
            XCTAssertEqual(seen["host"], "127.0.0.1:\(portB)", "Host as the client sent it")
            XCTAssertEqual(seen["authorization"], "Bearer t0k")
            XCTAssertEqual(seen["session"], "s-1")
            XCTAssertEqual(seen["version"], "2025-11-25")
            XCTAssertEqual(seen["lastEventID"], "e-9")
            XCTAssertEqual(seen["mcpMethod"], "tools/call")
            XCTAssertEqual(seen["mcpParam"], "hi")
            XCTAssertEqual(seen["requestID"], "trace-123", "the holder logs under the request's id")
            XCTAssertEqual(seen["origin"], "http://127.0.0.1:8080")
            XCTAssertEqual(seen["client"], "127.0.0.1", "the client's address, not the hop's")
            XCTAssertEqual(seen["body"], #"{"id":7}"#)
            XCTAssertEqual(response.headers.first(name: "Mcp-Session-Id"), "s-1")
            XCTAssertEqual(response.headers.first(name: "WWW-Authenticate"), "Bearer x")
            XCTAssertEqual(response.headers.first(name: "Content-Type"), "application/json")
            XCTAssertNil(response.headers.first(name: "X-Internal"))
            XCTAssertNil(response.headers.first(name: "Fjmcp-Replica-Handled"))
        }
    }

    func testGetAndDeleteTravelToo() async throws {
        try await withReplicas { _, _, _, portB, client in
            var get = HTTPClientRequest(url: "http://127.0.0.1:\(portB)/mcp")
            get.headers.add(name: "Mcp-Session-Id", value: "s-2")
            let (got, text) = try await Self.collect(client, get)
            XCTAssertEqual(got.status.code, 201, text)
            XCTAssertEqual(MCPJSON.object(text)?["method"], "GET")
            XCTAssertEqual(MCPJSON.object(text)?["body"], "")
            var delete = HTTPClientRequest(url: "http://127.0.0.1:\(portB)/mcp")
            delete.method = .DELETE
            let (deleted, _) = try await Self.collect(client, delete)
            XCTAssertEqual(deleted.status.code, 204)
            XCTAssertEqual(deleted.headers.first(name: "Mcp-Session-Id"), "gone")
        }
    }

    func testAnSSEAnswerStreamsThroughEventByEventAndTheClientLeavingCancelsTheHolder() async throws {
        try await withReplicas { a, _, _, portB, client in
            let response = try await client.execute(Self.post(portB, path: "/mcp?mode=sse"), timeout: .seconds(10))
            XCTAssertEqual(response.status.code, 200)
            XCTAssertEqual(response.headers.first(name: "Content-Type"), "text/event-stream")
            XCTAssertEqual(response.headers.first(name: "Connection"), "close")
            var iterator = response.body.makeAsyncIterator()
            var text = ""
            // The first event arrives while the holder is still waiting at its gate: no buffering.
            while !text.contains(#"{"n":1}"#), let chunk = try await iterator.next() { text += String(buffer: chunk) }
            XCTAssertFalse(text.contains(#"{"n":2}"#))
            a.gate.continuation.yield()
            while !text.contains(#"{"n":2}"#), let chunk = try await iterator.next() { text += String(buffer: chunk) }
            XCTAssertTrue(text.hasSuffix("\n\n"), text)

            // A second stream the client abandons: the holder's writer learns it.
            let abandoned = try await client.execute(Self.post(portB, path: "/mcp?mode=sse"), timeout: .seconds(10))
            let reader = Task {
                for try await chunk in abandoned.body where String(buffer: chunk).contains(#"{"n":1}"#) {
                    try await Task.sleep(for: .seconds(60))
                }
            }
            reader.cancel()
            let heard = await eventually { a.cancelled.withLock { $0 } }
            XCTAssertTrue(heard, "the holder's stream was not cancelled")
        }
    }

    func testAHolderThatCannotBeReachedIs503RetryAfter1WithTheRequestsJSONRPCError() async throws {
        try await withReplicas { _, b, _, portB, client in
            b.holder.withLock { $0 = Self.record("replica-gone", port: 1) }
            let unreachable = Self.hops("unreachable")
            let (response, text) = try await Self.collect(client, Self.post(portB))
            XCTAssertEqual(response.status.code, 503, text)
            XCTAssertGreaterThan(Self.hops("unreachable"), unreachable)
            XCTAssertEqual(response.headers.first(name: "Retry-After"), "1")
            let error = try XCTUnwrap(MCPJSON.any(text)?["error"] as? [String: Any])
            XCTAssertEqual(MCPJSON.any(text)?["id"] as? Int, 7)
            XCTAssertEqual(error["code"] as? Int, SessionError.heldElsewhere(Self.record("x", port: 1)).rpcCode)
        }
    }

    func testARequestForAHolderThatDoesNotAnswerWaitsForItsLapseAndIsServedHere() async throws {
        try await withReplicas { _, b, _, portB, client in
            b.holder.withLock { $0 = Self.record("replica-gone", port: 1) }
            let unreachable = Self.hops("unreachable")
            // The holder's claim lapses while the request waits: the handler then serves it here.
            let lapse = Task {
                while Self.hops("unreachable") == unreachable { try await Task.sleep(for: .milliseconds(10)) }
                b.holder.withLock { $0 = nil }
            }
            defer { lapse.cancel() }
            let (response, text) = try await Self.collect(client, Self.post(portB))
            XCTAssertEqual(response.status.code, 201, text)
            XCTAssertEqual(MCPJSON.object(text)?["replica"], "replica-B")
            XCTAssertEqual(MCPJSON.object(text)?["hop"], "no")
        }
    }

    /// A relayed stream whose holder goes silent (gone without a reset) ends after three
    /// keep-alive intervals without a byte, instead of hanging for ever.
    func testARelayedStreamThatFallsSilentForThreeKeepAliveIntervalsEnds() async throws {
        try await withReplicas(b: HopSettings(headTimeout: .milliseconds(500), keepAliveInterval: .milliseconds(200))) { _, _, _, portB, client in
            let started = ContinuousClock.now
            let response = try await client.execute(Self.post(portB, path: "/mcp?mode=hold"), timeout: .seconds(30))
            XCTAssertEqual(response.status.code, 200)
            var text = ""
            do {
                for try await chunk in response.body { text += String(buffer: chunk) }
            } catch {
                // A cut chunked body: the relay ended it.
            }
            XCTAssertTrue(text.contains(#"{"held":true}"#), text)
            XCTAssertLessThan(ContinuousClock.now - started, .seconds(10), "the relay did not end the silent stream")
            // Not before three keep-alive intervals of silence (the 500 ms head timeout must not cut it).
            XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(580), "the relay ended the stream too early")
        }
    }

    /// The wait asks again when the holder's beat lapses, not every `retryInterval` before
    /// (each attempt is a record read and a claim transaction).
    func testTheWaitForAnUnreachableHoldersLapseAsksAgainWhenItLapses() async throws {
        try await withReplicas(b: HopSettings(patience: .seconds(5), lapse: .seconds(2))) { _, b, _, portB, client in
            b.holder.withLock { $0 = ReplicaRecord(id: "replica-gone", address: "http://127.0.0.1:1", startedAt: Date(),
                                                    heartbeatAt: Date().addingTimeInterval(-0.5)) }
            let (response, text) = try await Self.collect(client, Self.post(portB))
            XCTAssertEqual(response.status.code, 201, text)
            XCTAssertEqual(MCPJSON.object(text)?["replica"], "replica-B")
            // 1.5 s to the lapse: every 250 ms would be 7 attempts.
            XCTAssertLessThanOrEqual(b.attempts.withLock { $0 }, 3)
        }
    }

    /// More streams than AsyncHTTPClient's default per-host connection limit (8) stay open
    /// through one hop at once, and a request after them is not queued behind them.
    func testManyLongLivedStreamsThroughTheHopDoNotQueueLaterRequests() async throws {
        try await withReplicas { _, _, _, portB, client in
            var streams: [HTTPClientResponse] = []
            for _ in 0..<12 {
                let response = try await client.execute(Self.post(portB, path: "/mcp?mode=hold"), timeout: .seconds(5))
                XCTAssertEqual(response.status.code, 200)
                streams.append(response)
            }
            let (response, text) = try await Self.collect(client, Self.post(portB))
            XCTAssertEqual(response.status.code, 201, text)
            XCTAssertEqual(MCPJSON.object(text)?["replica"], "replica-A")
            _ = streams
        }
    }

    func testAHolderAtThisReplicasOwnAddressIsItsPreviousLifeAnd503WithoutAHop() async throws {
        try await withReplicas { _, b, _, portB, client in
            b.holder.withLock { $0 = ReplicaRecord(id: "replica-B-before-restart", address: "http://replica-B.test", startedAt: Date(),
                                                    heartbeatAt: Date()) }
            let unreachable = Self.hops("unreachable")
            let (response, text) = try await Self.collect(client, Self.post(portB))
            XCTAssertEqual(response.status.code, 503, text)
            XCTAssertEqual(response.headers.first(name: "Retry-After"), "1")
            XCTAssertEqual(MCPJSON.any(text)?["id"] as? Int, 7)
            XCTAssertEqual(Self.hops("unreachable"), unreachable, "no hop was tried")
        }
    }

    /// A holder that reads requests and then closes the connection, or (`answers: false`) keeps
    /// it open and never answers: the request reached it, whatever ran there.
    final class MuteHolder: Sendable {
        final class Handler: ChannelInboundHandler, Sendable {
            typealias InboundIn = ByteBuffer
            let holder: MuteHolder
            init(_ holder: MuteHolder) { self.holder = holder }

            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                holder.received.withLock { $0 += String(buffer: unwrapInboundIn(data)) }
                if holder.closes { context.close(promise: nil) }
            }
        }

        let closes: Bool
        let received = Mutex("")
        init(closes: Bool) { self.closes = closes }

        /// How many requests arrived (each is one POST to /mcp).
        var requests: Int { received.withLock { $0.components(separatedBy: "POST /mcp").count - 1 } }

        func run(_ body: (Int) async throws -> Void) async throws {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Handler(self)) }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            do {
                try await body(try XCTUnwrap(channel.localAddress?.port))
            } catch {
                try? await channel.close()
                throw error
            }
            try await channel.close()
        }
    }

    /// A holder that may have run the request (the connection broke after it read it, or it never
    /// answered) is not sent it again, nor does the request run here: 502, or 504 on the timeout.
    func testARequestThatMayHaveReachedTheHolderIsAnswered502Or504OnceAndNeitherResentNorRunHere() async throws {
        for (closes, status): (Bool, UInt) in [(true, 502), (false, 504)] {
            let holder = MuteHolder(closes: closes)
            try await holder.run { port in
                try await withReplicas(b: HopSettings(patience: .seconds(3), headTimeout: .milliseconds(500))) { _, b, _, portB, client in
                    b.holder.withLock { $0 = Self.record("replica-mute", port: port) }
                    let (lost, unreachable) = (Self.hops("lost"), Self.hops("unreachable"))
                    let (response, text) = try await Self.collect(client, Self.post(portB))
                    XCTAssertEqual(response.status.code, status, text)
                    XCTAssertNil(response.headers.first(name: "Retry-After"))
                    XCTAssertEqual(MCPJSON.any(text)?["id"] as? Int, 7)
                    XCTAssertEqual((MCPJSON.any(text)?["error"] as? [String: Any])?["code"] as? Int, -32603)
                    XCTAssertEqual(holder.requests, 1, "sent to the holder exactly once")
                    XCTAssertEqual(Self.hops("lost"), lost + 1)
                    XCTAssertEqual(Self.hops("unreachable"), unreachable)
                }
            }
        }
    }

    /// The hop sends (and signs) a request target only when AsyncHTTPClient's URL keeps it as
    /// it is; one it would re-encode or reject is not forwarded (the holder would refuse the
    /// signature, or see another target).
    func testOnlyARequestTargetTheHopSendsUnchangedIsForwarded() {
        for path in ["/mcp", "/mcp?x=1", "/mcp?a=%20b&c=d", "/mcp/x%2Fy"] {
            XCTAssertEqual(URL(string: "http://10.0.0.5:8080" + path).map(ReplicaForwarder.requestTarget), path)
        }
        for path in ["/mcp?q={x}", "/mcp?q=a|b", "/mcp?q=\"x\""] {
            XCTAssertNotEqual(URL(string: "http://10.0.0.5:8080" + path).map(ReplicaForwarder.requestTarget), path)
        }
    }

    /// A request target the hop could not send unchanged (and sign as the holder would verify
    /// it) is answered 400 with the request's JSON-RPC error at once: neither forwarded, nor
    /// waited on, nor served here. AsyncHTTPClient would not send such a target either, so the
    /// client writes its request by hand.
    func testARequestTargetTheHopCannotSendUnchangedIs400AndNeitherForwardedNorRunHere() async throws {
        try await withReplicas { a, b, _, portB, _ in
            let (status, text) = try await Self.rawPost(portB, target: "/mcp?q={x}")
            XCTAssertEqual(status, 400, text)
            XCTAssertEqual(MCPJSON.any(text)?["id"] as? Int, 7)
            XCTAssertEqual((MCPJSON.any(text)?["error"] as? [String: Any])?["code"] as? Int, -32600)
            XCTAssertEqual(a.attempts.withLock { $0 }, 0, "not forwarded")
            XCTAssertEqual(b.attempts.withLock { $0 }, 1, "asked once: not waited on for a lapse")
        }
    }

    /// A holder the hop could not reach is forgotten in the placement's memo, so the next attempt
    /// asks the store (which takes the child over once the holder lapsed); a holder that answered
    /// stays remembered, and so do the other holders.
    func testTheHopForgetsAnUnreachableHolderInTheMemoAndKeepsOneThatAnswered() async throws {
        try await withReplicas(b: HopSettings(patience: .milliseconds(300))) { a, b, portA, portB, client in
            let (reachable, gone) = (Self.record(a.id, port: portA), Self.record("replica-gone", port: 1))
            b.memo.remember(reachable, for: "session:served", now: Date())
            b.memo.remember(gone, for: "session:lost", now: Date())
            let (served, servedText) = try await Self.collect(client, Self.post(portB))
            XCTAssertEqual(served.status.code, 201, servedText)
            XCTAssertEqual(b.memo.holder(of: "session:served", now: Date())?.id, a.id, "a holder that answered is kept")

            b.holder.withLock { $0 = gone }
            let (unreachable, text) = try await Self.collect(client, Self.post(portB))
            XCTAssertEqual(unreachable.status.code, 503, text)
            XCTAssertNil(b.memo.holder(of: "session:lost", now: Date()), "the unreachable holder is forgotten")
            XCTAssertEqual(b.memo.holder(of: "session:served", now: Date())?.id, a.id, "only that holder is")
        }
    }

    /// POSTs `{"id":7}` to `target` on a raw connection; the status and body of the answer.
    private static func rawPost(_ port: Int, target: String) async throws -> (UInt, String) {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) {
            channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
        let body = #"{"id":7}"#
        let request = "POST \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: Bearer t0k\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        let answer = try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            var text = ""
            for try await chunk in inbound { text += String(buffer: chunk) }
            return text
        }
        let parts = answer.components(separatedBy: "\r\n\r\n")
        let status = parts.first?.split(separator: " ").dropFirst().first.flatMap { UInt($0) } ?? 0
        return (status, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    /// `fjmcp_replica_hops_total` for `outcome` in this test process's registry.
    private static func hops(_ outcome: String) -> Double {
        let series = #"fjmcp_replica_hops_total{outcome="\#(outcome)"} "#
        let text = String(decoding: BrokerMetrics.render(), as: UTF8.self)
        return text.split(separator: "\n").first { $0.hasPrefix(series) }.flatMap { Double($0.dropFirst(series.count)) } ?? 0
    }

    func testARequestThatArrivedByHopIsNeverForwardedAgain() async throws {
        try await withReplicas { a, _, _, portB, client in
            // A believes B holds it, B believes A does: one hop, then 503, no ping-pong.
            a.holder.withLock { $0 = Self.record("replica-B", port: portB) }
            let (response, text) = try await Self.collect(client, Self.post(portB))
            XCTAssertEqual(response.status.code, 503, text)
            XCTAssertEqual(response.headers.first(name: "Retry-After"), "1")
            XCTAssertEqual(MCPJSON.any(text)?["id"] as? Int, 7, "A's JSON-RPC error, relayed by B")
        }
    }

    /// A replica restarted within the lapse gets hops for its previous life's sessions: they wait
    /// for that life's lapse and are served here, not refused as a second hop.
    func testAHopForAChildOfThisReplicasPreviousLifeWaitsForItsLapseAndIsServedHere() async throws {
        try await withReplicas { a, _, _, portB, client in
            a.holder.withLock { $0 = ReplicaRecord(id: "replica-A-before-restart", address: "http://replica-A.test", startedAt: Date(),
                                                    heartbeatAt: Date()) }
            let lapse = Task {
                while a.attempts.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(10)) }
                a.holder.withLock { $0 = nil }
            }
            defer { lapse.cancel() }
            let refused = Self.hops("refused_onward")
            let (response, text) = try await Self.collect(client, Self.post(portB))
            XCTAssertEqual(response.status.code, 201, text)
            XCTAssertEqual(MCPJSON.object(text)?["replica"], "replica-A")
            XCTAssertEqual(MCPJSON.object(text)?["hop"], "yes")
            XCTAssertEqual(Self.hops("refused_onward"), refused)
        }
    }

    func testAForgedStaleOrReplayedHopHeaderIs403AndNeverReachesTheHandler() async throws {
        try await withReplicas { _, _, portA, _, client in
            let signature = ReplicaHopSignature(key: ReplicaHopKey(masterKey: Self.secret))
            let otherKey = ReplicaHopSignature(key: ReplicaHopKey(masterKey: [UInt8](repeating: 6, count: 32)))
            let facts = ReplicaHopFacts(target: "replica-A", method: "POST", authority: "127.0.0.1:\(portA)", path: "/mcp", sessionID: nil,
                                        headers: [.authorization: "Bearer t0k", .contentType: "application/json"],
                                        body: ByteBuffer(string: #"{"id":7}"#), clientAddress: "198.51.100.7")
            let valid = signature.sign(facts, sender: "replica-B", at: Date())
            let forged: [(String, String)] = [
                ("garbage", "198.51.100.7"),
                (otherKey.sign(facts, sender: "replica-B", at: Date()), "198.51.100.7"),
                (signature.sign(facts, sender: "replica-B", at: Date().addingTimeInterval(-60)), "198.51.100.7"),
                (valid, "192.0.2.1"),  // another client address than the one signed
            ]
            for (header, address) in forged {
                let (response, text) = try await Self.collect(client, Self.post(portA, headers: [
                    ("Fjmcp-Replica-Hop", header), ("Fjmcp-Replica-Client", address),
                ]))
                XCTAssertEqual(response.status.code, 403, text)
                XCTAssertEqual(response.headers.first(name: "Content-Type"), "application/json")
                XCTAssertEqual((MCPJSON.any(text)?["error"] as? [String: Any])?["code"] as? Int, -32600)
            }
            // The same header with its own facts is served, with the signed client address.
            let (response, text) = try await Self.collect(client, Self.post(portA, headers: [
                ("Fjmcp-Replica-Hop", valid), ("Fjmcp-Replica-Client", "198.51.100.7"),
            ]))
            XCTAssertEqual(response.status.code, 201, text)
            XCTAssertEqual(MCPJSON.object(text)?["client"], "198.51.100.7")
            XCTAssertNotNil(response.headers.first(name: "Fjmcp-Replica-Handled"))
        }
    }
}

private enum MCPJSON {
    static func any(_ text: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }

    static func object(_ text: String) -> [String: String]? { any(text) as? [String: String] }
}
