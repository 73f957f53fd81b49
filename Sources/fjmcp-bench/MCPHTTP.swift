import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// MCP Streamable HTTP from the client side: POSTs JSON-RPC to one endpoint, answers as JSON or SSE.
struct MCPHTTP: Sendable {
    let client: HTTPClient
    let url: String
    let token: String?
    let protocolVersion = "2025-06-18"

    struct Reply: Sendable {
        var status: UInt
        var sessionID: String?
        var body: ByteBuffer
        var isResult: Bool { status == 200 && Payload.isResult(body.readableBytesView) }
    }

    static func makeClient(connections: Int) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, connections))
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(60))
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func post(_ json: String, session: String?, authorization: String? = nil, headers extra: [(String, String)] = []) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json, text/event-stream")
        if let authorization {
            request.headers.add(name: "Authorization", value: authorization)
        } else if let token {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        if let session {
            request.headers.add(name: "Mcp-Session-Id", value: session)
            request.headers.add(name: "MCP-Protocol-Version", value: protocolVersion)
        }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: json))
        let response = try await client.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 8 << 20)
        return Reply(status: response.status.code, sessionID: response.headers.first(name: "mcp-session-id"), body: body)
    }

    /// initialize + notifications/initialized; returns the session id (nil for a stateless server).
    func openSession() async throws -> String? {
        let reply = try await post(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":\#(Payload.initializeParams)}"#, session: nil)
        guard reply.isResult else {
            throw BenchError("initialize answered \(reply.status): \(String(buffer: reply.body).prefix(300))")
        }
        let note = try await post(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, session: reply.sessionID)
        guard note.status == 202 || note.status == 200 else {
            throw BenchError("notifications/initialized answered \(note.status): \(String(buffer: note.body).prefix(300))")
        }
        return reply.sessionID
    }

    func closeSession(_ id: String) async {
        var request = HTTPClientRequest(url: url)
        request.method = .DELETE
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.headers.add(name: "Mcp-Session-Id", value: id)
        request.headers.add(name: "MCP-Protocol-Version", value: protocolVersion)
        if let response = try? await client.execute(request, timeout: .seconds(30)) {
            _ = try? await response.body.collect(upTo: 1 << 20)
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A process-wide JSON-RPC id source (ids only need to be unique per session).
final class IDSource: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 1
    func take() -> Int {
        lock.lock()
        defer { lock.unlock() }
        next += 1
        return next
    }
}

/// Runs `concurrency` workers, each repeating `call` (true = success) until the budget is spent;
/// every call's latency is measured around the call itself.
func runWorkers(concurrency: Int, budget: RunBudget, _ call: @escaping @Sendable (Int) async -> Bool) async -> (LatencyRecorder, Duration) {
    let clock = ContinuousClock()
    let start = clock.now
    let recorder = await withTaskGroup(of: LatencyRecorder.self) { group in
        for worker in 0..<concurrency {
            group.addTask {
                var local = LatencyRecorder()
                while budget.take() {
                    let began = clock.now
                    let ok = await call(worker)
                    let took = clock.now - began
                    if ok { local.record(nanoseconds: took.nanoseconds) } else { local.recordError() }
                }
                return local
            }
        }
        var total = LatencyRecorder()
        for await part in group { total.merge(part) }
        return total
    }
    return (recorder, clock.now - start)
}
