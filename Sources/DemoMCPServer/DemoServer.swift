import Foundation

/// The MCP side of the demo: dispatches each incoming message, runs requests concurrently
/// (responses may leave out of order, like forgejo-mcp's worker pool) and owns the
/// bookkeeping for cancellation and for the requests it sends to the client.
actor DemoServer {
    static let supportedVersions: Set<String> = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
    static let latestVersion = "2025-11-25"
    static let version = "0.1.0"

    let options: DemoOptions
    let forgejo: ForgejoAPI?
    let out = LineWriter()
    private var running: [JSONValue: Task<Void, Never>] = [:]
    private var awaitingClient: [String: CheckedContinuation<JSONValue?, Never>] = [:]
    private var nextOutgoingID = 0
    private var garbageCount = 0
    private var oversizedLineSent = false
    /// Tool calls received, answered, and stopped while running by a `notifications/cancelled`
    /// (`--stats`).
    private(set) var callsReceived = 0
    private(set) var callsFinished = 0
    private(set) var callsCancelled = 0
    private var toolCalls: Set<JSONValue> = []
    /// Resource URIs the client subscribed to (`--notify` only).
    private(set) var subscribed: Set<String> = []

    init(options: DemoOptions, forgejo: ForgejoAPI?) {
        self.options = options
        self.forgejo = forgejo
    }

    /// Called in arrival order; only requests fan out into tasks, so a cancellation that
    /// follows its request on stdin always finds the request registered.
    func receive(_ line: String) async {
        guard let message = try? JSONValue.parse(Data(line.utf8)), case .object = message else {
            await send(error: -32700, message: "Parse error", id: .null)
            return
        }
        if options.noisyStderr {
            logError("received \(message["method"]?.stringValue ?? "a response") (\(line.utf8.count) bytes)")
        }
        let id = message["id"]
        switch (message["method"]?.stringValue, id) {
        case (let method?, let id?):
            startRequest(method: method, params: message["params"] ?? [:], id: id)
        case (let method?, nil):
            handleNotification(method: method, params: message["params"] ?? [:])
        case (nil, let id?):
            if let key = id.stringValue, let waiter = awaitingClient.removeValue(forKey: key) {
                waiter.resume(returning: message)
            }
        case (nil, nil):
            await send(error: -32600, message: "Invalid Request", id: .null)
        }
    }

    /// Lets in-flight requests finish after stdin EOF, as a worker-pool server does; a request
    /// that never ends (e.g. a long sleep) keeps the process alive until the broker escalates.
    func drain() async {
        while let task = running.values.first {
            await task.value
        }
    }

    private func startRequest(method: String, params: JSONValue, id: JSONValue) {
        if method == "tools/call", params["name"]?.stringValue != DemoTools.Name.stats.rawValue {
            toolCalls.insert(id)
            callsReceived += 1
        }
        running[id] = Task {
            let outcome = await self.handle(method: method, params: params)
            await self.complete(id: id, outcome: outcome)
        }
    }

    /// A cancelled request has already been removed from `running`; it must stay silent.
    private func complete(id: JSONValue, outcome: RequestOutcome?) async {
        guard running.removeValue(forKey: id) != nil, let outcome else { return }
        if toolCalls.remove(id) != nil { callsFinished += 1 }
        switch outcome {
        case .result(let result):
            await send(["jsonrpc": "2.0", "id": id, "result": result])
        case .error(let code, let message):
            await send(error: code, message: message, id: id)
        }
        if case .result = outcome, let size = options.oversizedLineBytes, !oversizedLineSent {
            oversizedLineSent = true
            await out.writeLine(Self.oversizedLine(bytes: size))
        }
    }

    private func handleNotification(method: String, params: JSONValue) {
        guard method == "notifications/cancelled", let requestID = params["requestId"] else { return }
        guard let task = running.removeValue(forKey: requestID) else { return }
        task.cancel()
        if toolCalls.remove(requestID) != nil { callsCancelled += 1 }
    }

    private func handle(method: String, params: JSONValue) async -> RequestOutcome? {
        switch method {
        case "initialize":
            return .result(initializeResult(params: params))
        case "ping":
            return .result([:])
        case "tools/list":
            return .result(["tools": .array(DemoTools.definitions + DemoTools.optionalDefinitions(for: options))])
        case "resources/list" where options.notifyTool:
            return .result(["resources": [["uri": "demo://counter", "name": "counter", "mimeType": "text/plain"]]])
        case "resources/read" where options.notifyTool:
            let uri = params["uri"]?.stringValue ?? ""
            return .result(["contents": [["uri": .string(uri), "mimeType": "text/plain", "text": "counter"]]])
        case "resources/subscribe" where options.notifyTool:
            guard let uri = params["uri"]?.stringValue else { return .error(code: -32602, message: "uri is required") }
            subscribed.insert(uri)
            return .result([:])
        case "resources/unsubscribe" where options.notifyTool:
            guard let uri = params["uri"]?.stringValue else { return .error(code: -32602, message: "uri is required") }
            subscribed.remove(uri)
            return .result([:])
        case "tools/call":
            guard let name = params["name"]?.stringValue, let tool = DemoTools.Name(rawValue: name),
                options.offers(tool)
            else {
                return .error(code: -32602, message: "Unknown tool: \(params["name"]?.stringValue ?? "<missing>")")
            }
            let context = DemoTools.Context(server: self, progressToken: params["_meta"]?["progressToken"])
            guard let result = await DemoTools.call(tool, arguments: params["arguments"] ?? [:], context: context) else {
                return nil
            }
            return .result(result)
        default:
            return .error(code: -32601, message: "Method not found: \(method)")
        }
    }

    private func initializeResult(params: JSONValue) -> JSONValue {
        let requested = params["protocolVersion"]?.stringValue ?? ""
        let version = Self.supportedVersions.contains(requested) ? requested : Self.latestVersion
        return [
            "protocolVersion": .string(version),
            "serverInfo": ["name": "fjmcp-demo", "version": .string(Self.version)],
            "capabilities": options.notifyTool
                ? ["tools": ["listChanged": true], "resources": ["subscribe": true, "listChanged": true], "logging": [:]]
                : ["tools": ["listChanged": true], "logging": [:]],
        ]
    }

    func send(_ message: JSONValue) async {
        if options.garbageStdout {
            garbageCount += 1
            await out.writeLine(Data("this is not json #\(garbageCount)".utf8))
        }
        await out.write(message)
    }

    private func send(error code: Int, message: String, id: JSONValue) async {
        await send(["jsonrpc": "2.0", "id": id, "error": ["code": .int(Int64(code)), "message": .string(message)]])
    }

    /// Sends a server→client request and waits for the client's whole response message;
    /// nil when the calling tool is cancelled first.
    ///
    /// The waiter is registered BEFORE the request is written: writing suspends this actor, and
    /// a client that answers at once (the broker refusing an undeclared capability) had its
    /// response arrive, find no waiter and be dropped, leaving the tool waiting forever.
    func askClient(method: String, params: JSONValue) async -> JSONValue? {
        nextOutgoingID += 1
        let id = "demo-\(nextOutgoingID)"
        let request: JSONValue = ["jsonrpc": "2.0", "id": .string(id), "method": .string(method), "params": params]
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume(returning: nil)
                } else {
                    awaitingClient[id] = continuation
                    Task { await self.send(request) }
                }
            }
        } onCancel: {
            Task { await self.abandon(id) }
        }
    }

    private func abandon(_ id: String) {
        awaitingClient.removeValue(forKey: id)?.resume(returning: nil)
    }

    /// A syntactically valid notification padded to exactly `bytes` (or the smallest valid size),
    /// so the broker's line limit, not its JSON parser, is what rejects it.
    static func oversizedLine(bytes: Int) -> Data {
        let prefix = #"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"debug","data":""#
        let suffix = #""}}"#
        let padding = max(0, bytes - prefix.utf8.count - suffix.utf8.count)
        var data = Data(prefix.utf8)
        data.append(Data(repeating: UInt8(ascii: "x"), count: padding))
        data.append(Data(suffix.utf8))
        return data
    }
}

enum RequestOutcome: Sendable {
    case result(JSONValue)
    case error(code: Int, message: String)
}
