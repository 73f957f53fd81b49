import Foundation
import Hummingbird
import NIOCore

/// The 2026-07-28 side of `/mcp`: no session, every request validated on its own and run on
/// the user's pooled child. `MCPEndpoint` hands over every POST its era rules assign here.
struct ModernEndpoint: Sendable {
    let pool: ModernChildPool
    let jsonWindow: Duration
    let keepAliveInterval: Duration
    let cacheTTLMilliseconds: Int
    /// `WWW-Authenticate` for a 401 when the user's Forgejo login is gone.
    let loginChallenge: String

    /// Nil when the message belongs to the legacy, session-based era. A modern request's
    /// `Mcp-Session-Id` is ignored (the spec forbids minting or echoing one).
    func respond(to message: JSONRPCMessage, request: Request, owner: SessionOwner) async throws -> Response? {
        let era = MCPEra.of(message, headers: request.headers)
        ModernMetrics.post(era: era)
        do {
            return try await respond(to: message, era: era, request: request, owner: owner)
        } catch let error as ModernRequestError {
            ModernMetrics.rejected(code: error.code)
            throw error
        }
    }

    private func respond(to message: JSONRPCMessage, era: MCPEra, request: Request, owner: SessionOwner) async throws -> Response? {
        switch era {
        case .legacy:
            return nil
        case .unclassified:
            // A modern server sees a request without its protocol header (or, with the header,
            // without the required `_meta`); either way a recognised modern error.
            if request.headers[.mcpProtocolVersion] == ModernProtocol.version {
                throw ModernRequestError(.invalidParams("_meta[\"\(ModernProtocol.protocolVersionKey)\"] is required"), rawID: message.rawID)
            }
            throw ModernRequestError(
                .headerMismatch("MCP-Protocol-Version header and _meta protocolVersion are required (or send initialize to open a session)"),
                rawID: message.rawID)
        case .modern:
            // The transport defines no client notifications for this era; accepted and dropped.
            if message.kind == .notification { return Response(status: .accepted) }
            return try await serve(ModernRequest(validating: message, headers: request.headers), request: request, owner: owner)
        }
    }

    private func serve(_ modern: ModernRequest, request: Request, owner: SessionOwner) async throws -> Response {
        if let state = modern.requestState { return try await resume(modern, state: state, request: request, owner: owner) }
        if let filter = modern.listenFilter { return try await listen(modern, filter: filter, request: request, owner: owner) }
        let child: PooledChild
        do {
            child = try await pool.acquire(owner: owner)
        } catch {
            let challenge: String? = if case .loginRequired = error { loginChallenge } else { nil }
            throw MCPRequestError.session(error, rawID: modern.rawID, challenge: challenge)
        }
        let results = ModernResult(server: child.server, cacheTTLMilliseconds: cacheTTLMilliseconds)
        guard let forwarded = modern.forwarded else {
            await pool.release(child)
            ModernMetrics.request(method: modern.method, outcome: "complete")
            return MCPEndpoint.json(results.discover(rawID: modern.rawID))
        }
        do {
            try modern.validateParamHeaders(request.headers, catalog: child.catalog)
        } catch {
            await pool.release(child)
            throw error
        }
        let call = ModernCall(on: child, pool: pool)
        if ModernRelay.mayTakeInput(modern) { await call.offerForInput() }
        do {
            await call.attach(try await child.bridge.send(forwarded))
        } catch {
            await call.finish()
            throw ModernRequestError(.invalidRequest("not a request"), rawID: modern.rawID)
        }
        return await answer(call, for: modern, owner: owner, results: results, request: request)
    }

    /// An MRTR retry: the sealed state names the parked child call, the client's answer goes to
    /// the child's pending server→client request, and the call's remaining events answer THIS
    /// HTTP request (possibly with another `input_required`).
    private func resume(_ modern: ModernRequest, state: String, request: Request, owner: SessionOwner) async throws -> Response {
        let parked: ModernInputParking.Parked
        do {
            parked = try await pool.parking.take(state, owner: owner, request: modern)
        } catch {
            throw ModernRequestError(error, rawID: modern.rawID)
        }
        let results = ModernResult(server: parked.call.child.server, cacheTTLMilliseconds: cacheTTLMilliseconds)
        guard let inputResponse = modern.inputResponses[parked.key] else {
            // The spec prefers asking again to failing when the requested input is missing.
            let state = await pool.parking.park(parked, method: modern.method, digest: modern.paramsDigest)
            ModernMetrics.request(method: modern.method, outcome: "input_required")
            return MCPEndpoint.json(results.inputRequired(key: parked.key, inputRequest: parked.inputRequest, requestState: state,
                                                          rawID: modern.rawID))
        }
        guard await parked.call.resume() else {
            throw ModernRequestError(ModernRequestState.Failure.used.kind, rawID: modern.rawID)
        }
        let reply = Array(#"{"jsonrpc":"2.0","id":"#.utf8) + JSONRPCID.encodeString(parked.brokerRequestID)
            + Array(#","result":"#.utf8) + Array(inputResponse) + Array("}".utf8)
        if let message = try? JSONRPCMessage(reply) { _ = await parked.call.child.bridge.deliverClientResponse(message) }
        return await answer(parked.call, for: modern, owner: owner, results: results, request: request)
    }

    /// What one HTTP request sees of a call: JSON when the answer (or an `input_required`) comes
    /// within the JSON window with nothing before it, otherwise an SSE stream of the relayed
    /// notifications, keep-alives and that answer.
    private func answer(_ call: ModernCall, for modern: ModernRequest, owner: SessionOwner, results: ModernResult,
                        request: Request) async -> Response
    {
        let started = ContinuousClock.now
        if ModernRelay.mayTakeInput(modern) { await call.offerForInput() }
        let first = await step(call, for: modern, owner: owner, results: results, until: .now + jsonWindow)
        switch first {
        case .final(let bytes, let status):
            var response = MCPEndpoint.json(bytes)
            response.status = status
            return response
        case .ended:
            return MCPEndpoint.json(JSONRPCErrorResponse.make(rawID: modern.rawID, code: -32603, message: "the call ended without an answer"))
        case .message, .tick:
            break
        }
        let keepAliveInterval = keepAliveInterval
        return Response(status: .ok, headers: MCPEventStream.headers, body: ResponseBody { writer in
            do {
                try await request.body.consumeWithCancellationOnInboundClose { _ in
                    try await writer.write(MCPEventStream.keepAlive)
                    var next = first
                    while true {
                        switch next {
                        case .message(let bytes): try await writer.write(MCPEventStream.event(bytes))
                        case .tick: try await writer.write(MCPEventStream.keepAlive)
                        case .final(let bytes, _):
                            try await writer.write(MCPEventStream.event(bytes))
                            return
                        case .ended: return
                        }
                        try Task.checkCancellation()
                        next = await step(call, for: modern, owner: owner, results: results, until: .now + keepAliveInterval)
                    }
                }
            } catch {
                // Closing the response stream is the modern client's only way to cancel.
                await call.abandon(reason: "client closed the response stream")
                ModernMetrics.request(method: modern.method, outcome: "cancelled")
                return
            }
            SessionMetrics.bridged(method: modern.method, duration: .now - started)
            try await writer.finish(nil)
        })
    }

    /// `subscriptions/listen`: a long-lived SSE stream that starts with the acknowledgement
    /// (what is honoured), then carries the user's child's change notifications the client
    /// opted in to, each tagged with the subscription id (= the listen request's id). Closing
    /// the stream unsubscribes; at broker shutdown the stream ends with the graceful result.
    private func listen(_ modern: ModernRequest, filter: ListenFilter, request: Request, owner: SessionOwner) async throws -> Response {
        let honored: ListenFilter
        let notifications: AsyncStream<[UInt8]>
        do {
            (honored, notifications) = try await pool.listen(owner: owner, filter: filter)
        } catch {
            let challenge: String? = if case .loginRequired = error { loginChallenge } else { nil }
            throw MCPRequestError.session(error, rawID: modern.rawID, challenge: challenge)
        }
        ModernMetrics.request(method: modern.method, outcome: "complete")
        let subscriptionID = (try? JSONSerialization.jsonObject(with: Data(modern.rawID), options: .fragmentsAllowed)) ?? NSNull()
        let meta: [String: Any] = [ModernProtocol.subscriptionIDKey: subscriptionID]
        let acknowledgement = Self.encode([
            "jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
            "params": ["_meta": meta, "notifications": honored.json] as [String: Any],
        ])
        let ended = Self.encode(["jsonrpc": "2.0", "id": subscriptionID, "result": ["resultType": "complete", "_meta": meta] as [String: Any]])
        let signals = MCPEventStream.signals(notifications, firstTick: keepAliveInterval, interval: keepAliveInterval)
        return Response(status: .ok, headers: MCPEventStream.headers, body: ResponseBody { writer in
            do {
                try await request.body.consumeWithCancellationOnInboundClose { _ in
                    try await writer.write(MCPEventStream.event(acknowledgement))
                    for await signal in signals {
                        switch signal {
                        case .item(let bytes): try await writer.write(MCPEventStream.event(Self.tagged(bytes, subscription: modern.rawID)))
                        case .tick: try await writer.write(MCPEventStream.keepAlive)
                        case .ended:
                            try await writer.write(MCPEventStream.event(ended))
                            return
                        }
                    }
                    try Task.checkCancellation()
                }
            } catch {
                // The client closed the stream: `signals` ends, which unregisters the listener.
                return
            }
            try await writer.finish(nil)
        })
    }

    private static func encode(_ object: [String: Any]) -> [UInt8] {
        (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])).map(Array.init) ?? []
    }

    /// The notification with `params._meta["io.modelcontextprotocol/subscriptionId"]` added.
    private static func tagged(_ notification: [UInt8], subscription rawID: [UInt8]) -> [UInt8] {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(notification))) as? [String: Any],
            let id = try? JSONSerialization.jsonObject(with: Data(rawID), options: .fragmentsAllowed)
        else { return notification }
        let meta: [String: Any] = [ModernProtocol.subscriptionIDKey: id]
        var params = object["params"] as? [String: Any] ?? [:]
        var existing = params["_meta"] as? [String: Any] ?? [:]
        existing.merge(meta) { _, new in new }
        params["_meta"] = existing
        object["params"] = params
        return encode(object)
    }

    enum Step: Sendable {
        /// The last thing this HTTP request carries: the answer or an `input_required` result.
        case final([UInt8], HTTPResponse.Status)
        case message([UInt8])
        case tick
        case ended
    }

    /// Reads the call until something the client must see (or the deadline). A server→client
    /// request the client can take (MRTR method, declared capability) parks the call and
    /// becomes `input_required`; any other is answered to the child at once.
    private func step(_ call: ModernCall, for modern: ModernRequest, owner: SessionOwner, results: ModernResult,
                      until deadline: ContinuousClock.Instant) async -> Step
    {
        while true {
            switch await call.next(until: deadline) {
            case .tick: return .tick
            case .ended:
                await call.finish()
                return .ended
            case .event(let event):
                switch ModernRelay.disposition(of: event, for: modern, results: results) {
                case .send(.response(let bytes)):
                    await call.finish()
                    let notFound = ModernResult.isMethodNotFound(bytes)
                    ModernMetrics.request(method: modern.method, outcome: ModernResult.isError(bytes) ? "error" : "complete")
                    return .final(bytes, notFound ? .notFound : .ok)
                case .send(.message(let bytes)):
                    return .message(bytes)
                case .drop:
                    continue
                case .broadcast(let notification):
                    await pool.publish(notification, from: call.child)
                case .answerChild(let childRequest):
                    guard let input = ModernRelay.inputRequest(childRequest, for: modern),
                        await pool.parking.hasRoom(userID: owner.userID)
                    else {
                        await call.child.answerServerRequest(childRequest)
                        continue
                    }
                    let parked = ModernInputParking.Parked(
                        call: call, key: input.key, brokerRequestID: input.brokerRequestID, inputRequest: input.request,
                        required: input.required, userID: owner.userID, clientID: owner.clientID)
                    let state = await pool.parking.park(parked, method: modern.method, digest: modern.paramsDigest)
                    ModernMetrics.request(method: modern.method, outcome: "input_required")
                    return .final(results.inputRequired(key: input.key, inputRequest: input.request, requestState: state,
                                                        rawID: modern.rawID), .ok)
                }
            }
        }
    }
}

/// What the modern client may see of a call: progress only if it sent a token (carrying the
/// token of the request being answered, which after an MRTR retry is the retry's), log messages
/// only at or above its `logLevel`, the translated response. Server→client requests never go
/// out as requests (a 2026-07-28 server sends none on any stream): the endpoint turns them into
/// `input_required` results or answers them to the child. Every other notification is dropped
/// here (change notifications belong on `subscriptions/listen`).
enum ModernRelay {
    enum Disposition {
        case send(BridgeEvent)
        case answerChild(JSONRPCMessage)
        /// A change notification that arrived on a call (the bridge gives the child's
        /// notifications to the only pending call): it belongs to the user's listen streams.
        case broadcast(JSONRPCMessage)
        case drop
    }

    /// A child's server→client request as an MRTR input request.
    struct InputRequest: Sendable {
        let key: String
        /// The bridge's id for the child's request (string, minted by the bridge).
        let brokerRequestID: String
        /// `{"method":…,"params":…}`.
        let request: [UInt8]
        /// `ClientCapabilities` JSON the request needs.
        let required: [UInt8]
    }

    /// Methods whose processing may ask the client for input (spec: patterns/mrtr §Supported Requests).
    static let inputMethods: Set<String> = ["tools/call", "prompts/get", "resources/read"]

    /// Whether a child's server→client request could become this request's `input_required`.
    static func mayTakeInput(_ modern: ModernRequest) -> Bool {
        let declared = modern.capabilities
        return inputMethods.contains(modern.method)
            && (declared.elicitationForm || declared.elicitationURL || declared.sampling || declared.roots)
    }

    static func disposition(of event: BridgeEvent, for modern: ModernRequest, results: ModernResult) -> Disposition {
        switch event {
        case .response(let bytes):
            return .send(.response(results.translate(bytes, method: modern.method, rawID: modern.rawID)))
        case .message(let bytes):
            guard let message = try? JSONRPCMessage(bytes) else { return .drop }
            if message.kind == .request { return .answerChild(message) }
            if let method = message.method, ModernChildPool.changeNotifications.contains(method) { return .broadcast(message) }
            guard isRelayed(message, for: modern) else { return .drop }
            if message.method == "notifications/progress", let token = modern.progressToken {
                return .send(.message(retokened(message, token) ?? bytes))
            }
            return .send(event)
        }
    }

    /// Nil unless the request is one MRTR allows, the child asks for elicitation, sampling or
    /// roots, and THIS request declared the capability that needs (the spec forbids sending
    /// input requests for undeclared capabilities).
    static func inputRequest(_ childRequest: JSONRPCMessage, for modern: ModernRequest) -> InputRequest? {
        guard inputMethods.contains(modern.method), let method = childRequest.method,
            case .string(let brokerID)? = childRequest.id,
            let object = (try? JSONSerialization.jsonObject(with: Data(childRequest.bytes))) as? [String: Any]
        else { return nil }
        let params = object["params"] as? [String: Any] ?? [:]
        guard let required = ModernClientCapabilities.required(for: method, params: params), modern.capabilities.satisfies(required),
            let request = try? JSONSerialization.data(withJSONObject: ["method": method, "params": params], options: [.withoutEscapingSlashes]),
            let requiredJSON = try? JSONSerialization.data(withJSONObject: required)
        else { return nil }
        return InputRequest(key: "input-1", brokerRequestID: brokerID, request: Array(request), required: Array(requiredJSON))
    }

    private static func retokened(_ message: JSONRPCMessage, _ token: [UInt8]) -> [UInt8]? {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(message.bytes))) as? [String: Any],
            var params = object["params"] as? [String: Any],
            let value = try? JSONSerialization.jsonObject(with: Data(token), options: .fragmentsAllowed)
        else { return nil }
        params["progressToken"] = value
        object["params"] = params
        return (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])).map(Array.init)
    }

    private static func isRelayed(_ notification: JSONRPCMessage, for modern: ModernRequest) -> Bool {
        switch notification.method {
        case "notifications/progress": return modern.wantsProgress
        case "notifications/message":
            guard let threshold = modern.logThreshold else { return false }
            return logLevelIndex(of: notification).map { $0 >= threshold } ?? true
        default: return false
        }
    }

    private static func logLevelIndex(of notification: JSONRPCMessage) -> Int? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(notification.bytes))) as? [String: Any],
            let level = (object["params"] as? [String: Any])?["level"] as? String
        else { return nil }
        return ModernProtocol.logLevels.firstIndex(of: level)
    }
}
