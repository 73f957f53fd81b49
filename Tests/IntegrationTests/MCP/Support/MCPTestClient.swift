import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One HTTP answer from `/mcp`; SSE bodies are split into their `data:` messages.
struct MCPReply: @unchecked Sendable {
    let status: Int
    let headers: HTTPHeaders
    let body: String

    var contentType: String { headers["content-type"].first ?? "" }
    var isEventStream: Bool { contentType.hasPrefix("text/event-stream") }
    var messages: [[String: Any]] { isEventStream ? SSE.messages(in: body) : [MCPReply.object(body)].compactMap { $0 } }
    /// The JSON body, or the last SSE message (the response).
    var final: [String: Any] { messages.last ?? [:] }
    var error: [String: Any]? { final["error"] as? [String: Any] }
    var errorCode: Int? { error?["code"] as? Int }
    var result: [String: Any]? { final["result"] as? [String: Any] }
    var structured: [String: Any]? { result?["structuredContent"] as? [String: Any] }

    static func object(_ text: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }
}

enum SSE {
    /// The `data:` payloads of complete events in `text`, parsed as JSON objects.
    static func messages(in text: String) -> [[String: Any]] {
        text.components(separatedBy: "\n\n").compactMap { event in
            let data = event.split(separator: "\n").filter { $0.hasPrefix("data:") }.map { $0.dropFirst(5).trimmingCharacters(in: .whitespaces) }
            return data.isEmpty ? nil : MCPReply.object(data.joined())
        }
    }
}

/// An open SSE answer read as it arrives; `close()` drops the connection like a client that
/// goes away.
final class MCPStream: Sendable {
    let status: Int
    let headers: HTTPHeaders
    let messages: AsyncStream<String>
    private let reader: Task<Void, Never>

    init(response: HTTPClientResponse) {
        status = Int(response.status.code)
        headers = response.headers
        let (messages, continuation) = AsyncStream<String>.makeStream()
        self.messages = messages
        reader = Task {
            var pending = ""
            do {
                for try await chunk in response.body {
                    pending += String(buffer: chunk)
                    while let end = pending.range(of: "\n\n") {
                        let event = String(pending[..<end.lowerBound])
                        pending = String(pending[end.upperBound...])
                        let data = event.split(separator: "\n").filter { $0.hasPrefix("data:") }.map { $0.dropFirst(5).trimmingCharacters(in: .whitespaces) }
                        if !data.isEmpty { continuation.yield(data.joined()) }
                    }
                }
            } catch {}
            continuation.finish()
        }
    }

    /// The next message as JSON, or nil when the stream ended.
    func next() async -> [String: Any]? {
        for await text in messages { return MCPReply.object(text) }
        return nil
    }

    func close() { reader.cancel() }
}

/// An MCP client over plain HTTP: holds the bearer token, the session id and the negotiated
/// version, and sends the headers the transport requires.
struct MCPTestClient: Sendable {
    let baseURL: String
    let accessToken: String
    let httpClient: HTTPClient
    var sessionID: String?
    var protocolVersion: String?

    init(baseURL: String, accessToken: String, httpClient: HTTPClient) {
        self.baseURL = baseURL
        self.accessToken = accessToken
        self.httpClient = httpClient
    }

    static func body(id: Int, method: String, params: [String: Any] = [:]) -> String {
        json(["jsonrpc": "2.0", "id": id, "method": method, "params": params])
    }

    static func json(_ object: Any) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: object)) ?? Data(), as: UTF8.self)
    }

    /// Opens a new session (forgetting any previous one, as a client does after a 404).
    mutating func initialize(version: String = "2025-11-25") async throws -> MCPReply {
        sessionID = nil
        protocolVersion = nil
        let reply = try await post(Self.body(id: 0, method: "initialize", params: [
            "protocolVersion": version, "capabilities": ["elicitation": [:]], "clientInfo": ["name": "mcp-tests", "version": "1"],
        ]))
        sessionID = reply.headers["mcp-session-id"].first
        protocolVersion = (reply.result?["protocolVersion"] as? String) ?? version
        if sessionID != nil {
            _ = try await post(Self.json(["jsonrpc": "2.0", "method": "notifications/initialized"]))
        }
        return reply
    }

    func call(id: Int, method: String, params: [String: Any] = [:]) async throws -> MCPReply {
        try await post(Self.body(id: id, method: method, params: params))
    }

    func tool(id: Int, _ name: String, _ arguments: [String: Any] = [:], meta: [String: Any]? = nil) async throws -> MCPReply {
        var params: [String: Any] = ["name": name, "arguments": arguments]
        if let meta { params["_meta"] = meta }
        return try await call(id: id, method: "tools/call", params: params)
    }

    func request(_ method: HTTPMethod = .POST, body: String? = nil, headers: [(String, String)] = [],
                 replacing: Set<String> = []) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: baseURL + "/mcp")
        request.method = method
        var fields: [(String, String)] = [("Authorization", "Bearer \(accessToken)")]
        if method == .POST { fields += [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")] }
        if method == .GET { fields.append(("Accept", "text/event-stream")) }
        if let sessionID { fields.append(("Mcp-Session-Id", sessionID)) }
        if let protocolVersion, protocolVersion >= "2025-06-18" { fields.append(("MCP-Protocol-Version", protocolVersion)) }
        let overridden = replacing.union(headers.map { $0.0.lowercased() })
        for (name, value) in fields where !overridden.contains(name.lowercased()) { request.headers.add(name: name, value: value) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        return request
    }

    /// Sends and collects the whole answer. `replacing` drops default headers by lowercased name.
    func post(_ body: String, headers: [(String, String)] = [], replacing: Set<String> = []) async throws -> MCPReply {
        try await send(request(.POST, body: body, headers: headers, replacing: replacing))
    }

    /// The whole exchange is bounded: the client's own timeout ends with the response head, and
    /// an SSE answer that never completes would otherwise keep a test waiting for ever.
    func send(_ request: HTTPClientRequest) async throws -> MCPReply {
        try await withDeadline(.seconds(60), "\(request.method) \(request.url)") { [httpClient] in
            let response = try await httpClient.execute(request, timeout: .seconds(60))
            let body = try await response.body.collect(upTo: 16 << 20)
            return MCPReply(status: Int(response.status.code), headers: response.headers, body: String(buffer: body))
        }
    }

    /// Sends and returns as soon as the response head is in, reading the SSE body as it comes.
    func stream(_ request: HTTPClientRequest) async throws -> MCPStream {
        MCPStream(response: try await httpClient.execute(request, timeout: .seconds(120)))
    }

    func delete() async throws -> MCPReply {
        try await send(request(.DELETE))
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(25))
    }
    return await condition()
}

/// Whether a process with this pid still exists (kill with signal 0 only checks).
func processExists(_ pid: Int32) -> Bool {
    kill(pid, 0) == 0 || errno != ESRCH
}
