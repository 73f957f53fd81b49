import Foundation
import Hummingbird
import NIOCore

/// The 2026-07-28 side of `/mcp`: no session, every request validated on its own and run on
/// the user's child of the host. `MCPEndpoint` hands over every POST its era rules assign here.
struct ModernEndpoint: Sendable {
    let host: ChildHost
    /// Calls waiting for a client's MRTR retry; each holds its child busy until it ends.
    let parking = ModernInputParking()
    let jsonWindow: Duration
    let keepAliveInterval: Duration
    let cacheTTLMilliseconds: Int
    /// `WWW-Authenticate` for a 401 when the user's Forgejo login is gone.
    let loginChallenge: String
    let tools: ToolGate
    let audit: AuditTrail?

    init(host: ChildHost, jsonWindow: Duration, keepAliveInterval: Duration, cacheTTLMilliseconds: Int, loginChallenge: String,
         tools: ToolGate, audit: AuditTrail?) {
        self.host = host
        self.tools = tools
        self.audit = audit
        self.jsonWindow = jsonWindow
        self.keepAliveInterval = keepAliveInterval
        self.cacheTTLMilliseconds = cacheTTLMilliseconds
        self.loginChallenge = loginChallenge
        host.register(parking)
    }

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
        case .legacy, .sessionless:
            return nil
        case .unclassified:
            // A modern server sees a request without its protocol header (or, with the header,
            // without the required `_meta`); either way a recognised modern error.
            if request.headers.value(.mcpProtocolVersion) == ModernProtocol.version {
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

    private func serve(_ modern: ModernRequest, request: Request, owner: SessionOwner, resent: Bool = false) async throws -> Response {
        if let state = modern.requestState { return try await resume(modern, state: state, request: request, owner: owner) }
        if let filter = modern.listenFilter { return try await listen(modern, filter: filter, request: request, owner: owner) }
        if let refused = refusal(of: modern, owner: owner) { return MCPEndpoint.json(refused) }
        let lease: ChildLease
        do {
            lease = try await host.acquireUserChild(owner: owner)
        } catch {
            let challenge: String? = if case .loginRequired = error { loginChallenge } else { nil }
            throw MCPRequestError.session(error, rawID: modern.rawID, challenge: challenge)
        }
        let child = lease.child
        let results = ModernResult(server: child.server, cacheTTLMilliseconds: cacheTTLMilliseconds)
        guard let forwarded = modern.forwarded else {
            await lease.release()
            ModernMetrics.request(method: modern.method, outcome: .complete)
            return MCPEndpoint.json(results.discover(rawID: modern.rawID))
        }
        do {
            try modern.validateParamHeaders(request.headers, catalog: child.tools)
        } catch {
            await lease.release()
            throw error
        }
        let call = ModernCall(on: lease, clientID: owner.clientID)
        // Registered before the request is sent: a server→client request the child sends at
        // once can then never find it unregistered.
        await call.run(takesInput: ModernRelay.mayTakeInput(modern))
        do {
            await call.attach(try await child.send(forwarded, origin: owner.clientID, into: call.inbox))
        } catch .childGone where !resent {
            // The child died since its last request; this one did not run, so its next child takes it.
            await call.finish()
            await host.childGone(child)
            return try await serve(modern, request: request, owner: owner, resent: true)
        } catch {
            await call.finish()
            // A busy child (`.childBusy`) stays: only this request is answered, never `childGone`.
            if let unsent = MCPRequestError.unsent(error, rawID: modern.rawID) { throw unsent }
            throw ModernRequestError(.invalidRequest("not a request"), rawID: modern.rawID)
        }
        return await answer(call, for: modern, owner: owner, results: results, request: request)
    }

    /// An MRTR retry: the sealed state names the parked child call, the client's answer goes to
    /// the child's pending server→client request, and the call's remaining events answer THIS
    /// HTTP request (possibly with another `input_required`).
    private func resume(_ modern: ModernRequest, state: String, request: Request, owner: SessionOwner) async throws -> Response {
        // The parked call lives with the user's child: on another replica, the retry goes there.
        try await host.routeUserChildHere(owner.userID, rawID: modern.rawID)
        let parked: ModernInputParking.Parked
        do {
            parked = try await parking.take(state, owner: owner, request: modern)
        } catch {
            throw ModernRequestError(error, rawID: modern.rawID)
        }
        let results = ModernResult(server: parked.call.child.server, cacheTTLMilliseconds: cacheTTLMilliseconds)
        guard let inputResponse = modern.inputResponses[parked.key] else {
            // The spec prefers asking again to failing when the requested input is missing.
            let state = await parking.park(parked, method: modern.method, digest: modern.paramsDigest)
            ModernMetrics.request(method: modern.method, outcome: .inputRequired)
            return MCPEndpoint.json(results.inputRequired(key: parked.key, inputRequest: parked.inputRequest, requestState: state,
                                                          rawID: modern.rawID))
        }
        guard await parked.call.resume() else {
            throw ModernRequestError(ModernRequestState.Failure.used.kind, rawID: modern.rawID)
        }
        // Registered again (it withdrew when parked) before the child hears the answer and asks more.
        await parked.call.run(takesInput: ModernRelay.mayTakeInput(modern))
        let reply = JSONRPCEnvelope.result(rawID: JSONRPCID.encodeString(parked.brokerRequestID), result: Array(inputResponse))
        if let message = try? JSONRPCMessage(reply) { _ = await parked.call.child.deliver(message) }
        return await answer(parked.call, for: modern, owner: owner, results: results, request: request)
    }

    /// What one HTTP request sees of a call: JSON when the answer (or an `input_required`) comes
    /// within the JSON window with nothing before it, otherwise an SSE stream of the relayed
    /// notifications, keep-alives and that answer.
    private func answer(_ call: ModernCall, for modern: ModernRequest, owner: SessionOwner, results: ModernResult,
                        request: Request) async -> Response
    {
        let started = ContinuousClock.now
        // Recorded at this request's final answer; an answer that is `input_required` is not
        // final, and its retry (a new request) records the call.
        let audited = ToolCallAudit.start(audit, modern, owner: owner)
        let first = await step(call, for: modern, owner: owner, results: results, until: .now + jsonWindow, audit: audited)
        switch first {
        case .final(let bytes, let status):
            var response = MCPEndpoint.json(bytes)
            response.status = status
            return response
        case .ended:
            return MCPEndpoint.json(JSONRPCEnvelope.error(rawID: modern.rawID, code: -32603, message: "the call ended without an answer"))
        case .message, .tick:
            break
        }
        // Closing the response stream is the modern client's only way to cancel; the guard also
        // covers a client that reset the connection before the headers (the body never runs).
        // After the answer (or an `input_required`) the call is done or parked and this is a no-op.
        let abandon = CleanupGuard {
            await call.abandon(reason: "client closed the response stream", includingParked: false)
        }
        let keepAliveInterval = keepAliveInterval
        return Response(status: .ok, headers: MCPEventStream.headers, body: ResponseBody { writer in
            do {
                try await MCPEventStream.write(request, to: &writer, opening: [.keepAlive, Self.frame(first)]) {
                    Self.frame(await step(call, for: modern, owner: owner, results: results, until: .now + keepAliveInterval,
                                          audit: audited))
                }
            } catch {
                await abandon.run()
                audited?.cancelled()
                ModernMetrics.request(method: modern.method, outcome: .cancelled)
                return
            }
            await abandon.run()
            SessionMetrics.bridged(method: modern.method, duration: .now - started)
        })
    }

    private static func frame(_ step: Step) -> SSEFrame {
        switch step {
        case .message(let bytes): .event(bytes)
        case .tick: .keepAlive
        case .final(let bytes, _): .last(bytes)
        case .ended: .end
        }
    }

    /// `subscriptions/listen`: a long-lived SSE stream that starts with the acknowledgement
    /// (what is honoured), then carries the user's child's change notifications the client
    /// opted in to, each tagged with the subscription id (= the listen request's id). Closing
    /// the stream unsubscribes; at broker shutdown the stream ends with the graceful result.
    private func listen(_ modern: ModernRequest, filter: ListenFilter, request: Request, owner: SessionOwner) async throws -> Response {
        let honored: ListenFilter
        let notifications: AsyncStream<[UInt8]>
        let budget: BufferBudget
        do {
            (honored, notifications, budget) = try await host.listen(owner: owner, filter: filter)
        } catch {
            let challenge: String? = if case .loginRequired = error { loginChallenge } else { nil }
            throw MCPRequestError.session(error, rawID: modern.rawID, challenge: challenge)
        }
        ModernMetrics.request(method: modern.method, outcome: .complete)
        let subscriptionID = (try? JSONSerialization.jsonObject(with: Data(modern.rawID), options: .fragmentsAllowed)) ?? NSNull()
        let meta: [String: Any] = [ModernProtocol.subscriptionIDKey: subscriptionID]
        let acknowledgement = Self.encode([
            "jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
            "params": ["_meta": meta, "notifications": honored.json] as [String: Any],
        ])
        let ended = Self.encode(["jsonrpc": "2.0", "id": subscriptionID, "result": ["resultType": "complete", "_meta": meta] as [String: Any]])
        let signals = MCPEventStream.signals(notifications, firstTick: keepAliveInterval, interval: keepAliveInterval)
        return Response(status: .ok, headers: MCPEventStream.headers, body: ResponseBody { writer in
            var iterator = signals.makeAsyncIterator()
            // When the client closes the stream, `signals` ends, which unregisters the listener.
            try? await MCPEventStream.write(request, to: &writer, opening: [.event(acknowledgement)]) {
                switch await iterator.next() {
                case .item(let bytes):
                    budget.taken(bytes.count)
                    return .event(Self.tagged(bytes, subscription: modern.rawID))
                case .tick: return .keepAlive
                case .ended: return .last(ended)
                case nil: return .end
                }
            }
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
                      until deadline: ContinuousClock.Instant, audit audited: ToolCallAudit?) async -> Step
    {
        while true {
            switch await call.next(until: deadline) {
            case .tick: return .tick
            case .ended:
                await call.finish()
                return .ended
            case .item(let event):
                switch ModernRelay.disposition(of: event, for: modern, results: results) {
                case .send(.response(let answer)):
                    await call.finish()
                    let bytes = tools.filterAnswer(answer, for: modern.method, requestID: modern.rawID)
                    audited?.answered(bytes)
                    let outcome = ModernResult.outcome(of: bytes)
                    ModernMetrics.request(method: modern.method, outcome: outcome == .result ? .complete : .error)
                    return .final(bytes, outcome == .methodNotFound ? .notFound : .ok)
                case .send(.message(let bytes)):
                    return .message(bytes)
                case .drop:
                    continue
                case .broadcast(let notification):
                    await host.publishChange(notification, userID: owner.userID)
                case .answerChild(let childRequest):
                    guard let input = ModernRelay.inputRequest(childRequest, for: modern),
                        await parking.hasRoom(userID: owner.userID)
                    else {
                        await call.child.refuse(childRequest)
                        continue
                    }
                    let parked = ModernInputParking.Parked(
                        call: call, key: input.key, brokerRequestID: input.brokerRequestID, inputRequest: input.request,
                        required: input.required, userID: owner.userID, clientID: owner.clientID)
                    let state = await parking.park(parked, method: modern.method, digest: modern.paramsDigest)
                    ModernMetrics.request(method: modern.method, outcome: .inputRequired)
                    return .final(results.inputRequired(key: input.key, inputRequest: input.request, requestState: state,
                                                        rawID: modern.rawID), .ok)
                }
            }
        }
    }
}
