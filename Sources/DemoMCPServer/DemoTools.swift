import Foundation

/// The demo's tools: each one exercises one bridge behaviour (identity, latency, progress,
/// server→client requests, crashes). Tool failures are `isError` results, as MCP requires.
enum DemoTools {
    enum Name: String, CaseIterable {
        case whoami, echo, sleep, progress, ask, crash, notify, stats, flood
        case sandboxProbe = "sandbox_probe"
    }

    struct Context: Sendable {
        let server: DemoServer
        let progressToken: JSONValue?
    }

    static let definitions: [JSONValue] = [
        // Annotations (readOnlyHint) for the broker's FJMCP_READ_ONLY preset; the other tools
        // have none, like forgejo-mcp's.
        tool("whoami", "Report the Forgejo login, the process id and a fingerprint of the token", [:], annotations: readOnly),
        // `x-mcp-header` (2026-07-28): HTTP clients mirror these arguments into `Mcp-Param-*`
        // headers, which lets the broker's header/body validation be exercised end to end.
        tool("echo", "Return the text", ["text": ["type": "string", "x-mcp-header": "Text"]], required: ["text"], annotations: readOnly),
        tool("sleep", "Wait ms milliseconds", ["ms": ["type": "integer", "x-mcp-header": "Ms"]], required: ["ms"]),
        tool(
            "progress", "Send steps progress notifications, intervalMs apart",
            ["steps": ["type": "integer"], "intervalMs": ["type": "integer"]], required: ["steps"]),
        tool(
            "ask", "Send a server-to-client request and return the answer",
            ["kind": ["type": "string", "enum": ["elicitation", "roots", "sampling"]]], required: ["kind"]),
        tool("crash", "Exit at once with the code", ["code": ["type": "integer"]],
             annotations: ["readOnlyHint": false, "destructiveHint": true, "title": "Crash"]),
    ]

    /// Listed only with `--notify`: sends a change notification now or after `delayMs` (then
    /// outside any request). `updated` is only sent for a subscribed URI, like a real server.
    static let notifyDefinition: JSONValue = tool(
        "notify", "Send a change notification (tools, prompts, resources or updated)",
        ["kind": ["type": "string"], "uri": ["type": "string"], "delayMs": ["type": "integer"]], required: ["kind"])

    /// Listed only with `--stats`: what this process did with the tool calls it received.
    static let statsDefinition: JSONValue = tool("stats", "Count the tool calls received, finished and cancelled", [:])
    /// Listed only with `--sandbox-probe` (tests): see `SandboxProbe`.
    static let sandboxProbeDefinition: JSONValue = tool(
        "sandbox_probe", "Report which processes, secrets, files and sockets this process can reach", [:])

    /// Listed only with `--flood` (tests): see `DemoFlood`.
    static let floodDefinition: JSONValue = tool(
        "flood", "Write about bytes of progress (or log) notifications as fast as possible",
        ["bytes": ["type": "integer"], "lineBytes": ["type": "integer"], "ignoreCancel": ["type": "boolean"]], required: ["bytes"])

    /// The tools a flag turns on, for the options given.
    static func optionalDefinitions(for options: DemoOptions) -> [JSONValue] {
        [(Name.notify, notifyDefinition), (.stats, statsDefinition), (.sandboxProbe, sandboxProbeDefinition), (.flood, floodDefinition)]
            .filter { options.offers($0.0) }.map(\.1)
    }

    private static let readOnly: JSONValue = ["readOnlyHint": true]

    private static func tool(
        _ name: String, _ description: String, _ properties: JSONValue, required: [JSONValue] = [], annotations: JSONValue? = nil
    ) -> JSONValue {
        var definition: [String: JSONValue] = [
            "name": .string(name), "description": .string(description),
            "inputSchema": ["type": "object", "properties": properties, "required": .array(required)],
        ]
        if let annotations { definition["annotations"] = annotations }
        return .object(definition)
    }

    /// Returns nil when the call was cancelled: a cancelled request gets no response.
    static func call(_ name: Name, arguments: JSONValue, context: Context) async -> JSONValue? {
        switch name {
        case .whoami: return await whoami(context)
        case .echo:
            guard let text = arguments["text"]?.stringValue else { return failure("echo needs a string 'text'") }
            return text_(text, structured: ["text": .string(text)])
        case .sleep:
            guard let ms = arguments["ms"]?.intValue, ms >= 0 else { return failure("sleep needs a non-negative 'ms'") }
            do { try await Task.sleep(for: .milliseconds(ms)) } catch { return nil }
            return text_("slept \(ms) ms", structured: ["ms": .int(Int64(ms))])
        case .progress: return await progress(arguments, context)
        case .ask: return await ask(arguments, context)
        case .crash:
            exit(Int32(truncatingIfNeeded: arguments["code"]?.intValue ?? 1))
        case .notify: return await notify(arguments, context)
        case .stats:
            let server = context.server
            let (received, finished, cancelled) = await (server.callsReceived, server.callsFinished, server.callsCancelled)
            return text_("received \(received), finished \(finished), cancelled \(cancelled)", structured: [
                "received": .int(Int64(received)), "finished": .int(Int64(finished)), "cancelled": .int(Int64(cancelled)),
            ])
        case .flood:
            guard let bytes = arguments["bytes"]?.intValue, bytes >= 0 else { return failure("flood needs a non-negative 'bytes'") }
            let flood = DemoFlood(
                total: bytes, lineBytes: arguments["lineBytes"]?.intValue ?? DemoFlood.defaultLineBytes,
                ignoresCancel: arguments["ignoreCancel"] == .bool(true), progressToken: context.progressToken)
            guard let written = await flood.run(into: context.server.out) else { return nil }
            return text_("flooded \(written) bytes", structured: ["bytes": .int(Int64(written))])
        case .sandboxProbe:
            let report = SandboxProbe.run(targets: context.server.options.probeTargets, ownToken: context.server.options.token)
            return text_(report.serializedString, structured: report)
        }
    }

    private static func whoami(_ context: Context) async -> JSONValue {
        let server = context.server
        var login: JSONValue = .null
        if !server.options.noForgejoCheck, let forgejo = server.forgejo {
            do {
                login = try await forgejo.currentUser()["login"] ?? .null
            } catch {
                return failure("whoami: \(error)")
            }
        }
        let info: JSONValue = [
            "login": login,
            "pid": .int(Int64(ProcessInfo.processInfo.processIdentifier)),
            "tokenFingerprint": .string(TokenFingerprint.of(server.options.token)),
        ]
        return text_(info.serializedString, structured: info)
    }

    private static func progress(_ arguments: JSONValue, _ context: Context) async -> JSONValue? {
        guard let steps = arguments["steps"]?.intValue, steps >= 0 else {
            return failure("progress needs a non-negative 'steps'")
        }
        let interval = max(0, arguments["intervalMs"]?.intValue ?? 0)
        for step in 0..<steps {
            if interval > 0 {
                do { try await Task.sleep(for: .milliseconds(interval)) } catch { return nil }
            } else if Task.isCancelled {
                return nil
            }
            if let token = context.progressToken {
                await context.server.send([
                    "jsonrpc": "2.0", "method": "notifications/progress",
                    "params": [
                        "progressToken": token, "progress": .int(Int64(step + 1)), "total": .int(Int64(steps)),
                        "message": .string("step \(step + 1) of \(steps)"),
                    ],
                ])
            }
        }
        return text_("completed \(steps) steps", structured: ["steps": .int(Int64(steps))])
    }

    private static func ask(_ arguments: JSONValue, _ context: Context) async -> JSONValue? {
        let method: String
        let params: JSONValue
        switch arguments["kind"]?.stringValue {
        case "elicitation":
            method = "elicitation/create"
            params = [
                "message": "Please confirm",
                "requestedSchema": ["type": "object", "properties": ["ok": ["type": "boolean"]]],
            ]
        case "roots":
            method = "roots/list"
            params = [:]
        case "sampling":
            method = "sampling/createMessage"
            params = [
                "messages": [["role": "user", "content": ["type": "text", "text": "Say hello"]]], "maxTokens": 16,
            ]
        default:
            return failure("ask needs 'kind': elicitation, roots or sampling")
        }
        guard let response = await context.server.askClient(method: method, params: params) else { return nil }
        if let error = response["error"] {
            return failure("client answered \(method) with an error: \(error.serializedString)")
        }
        let result = response["result"] ?? .null
        return text_(result.serializedString, structured: ["method": .string(method), "result": result])
    }

    private static func notify(_ arguments: JSONValue, _ context: Context) async -> JSONValue {
        let uri = arguments["uri"]?.stringValue ?? "demo://counter"
        let notification: JSONValue
        switch arguments["kind"]?.stringValue {
        case "tools": notification = ["jsonrpc": "2.0", "method": "notifications/tools/list_changed"]
        case "prompts": notification = ["jsonrpc": "2.0", "method": "notifications/prompts/list_changed"]
        case "resources": notification = ["jsonrpc": "2.0", "method": "notifications/resources/list_changed"]
        case "updated":
            guard await context.server.subscribed.contains(uri) else {
                return text_("not subscribed to \(uri)", structured: ["sent": false])
            }
            notification = ["jsonrpc": "2.0", "method": "notifications/resources/updated", "params": ["uri": .string(uri)]]
        default: return failure("notify needs 'kind': tools, prompts, resources or updated")
        }
        let delay = max(0, arguments["delayMs"]?.intValue ?? 0)
        let server = context.server
        if delay > 0 {
            Task {
                try? await Task.sleep(for: .milliseconds(delay))
                await server.send(notification)
            }
        } else {
            await server.send(notification)
        }
        return text_("sent", structured: ["sent": true])
    }

    private static func text_(_ text: String, structured: JSONValue) -> JSONValue {
        ["content": [["type": "text", "text": .string(text)]], "structuredContent": structured, "isError": false]
    }

    private static func failure(_ message: String) -> JSONValue {
        ["content": [["type": "text", "text": .string(message)]], "isError": true]
    }
}
