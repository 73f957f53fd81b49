import Hummingbird
import NIOCore

/// Client messages on an existing session: notifications and answers are accepted with 202,
/// requests are answered as JSON when the child answers quickly and without side messages,
/// otherwise as an SSE stream that carries the side messages, keep-alives and the answer.
extension MCPEndpoint {
    func dispatch(_ message: JSONRPCMessage, lease: ChildLease, owner: SessionOwner, request: Request,
                  context: BrokerRequestContext) async throws -> Response {
        let session = lease.child
        switch message.kind {
        case .notification:
            if (try? await session.forward(message)) == true { await host.remember(message, on: session) }
            await lease.release()
            return Response(status: .accepted)
        case .response, .errorResponse:
            if await !session.deliver(message) {
                context.logger.debug("client answered a server request that no child is waiting for")
            }
            await lease.release()
            return Response(status: .accepted)
        case .request:
            // Checked by name first: noting state is an actor hop only for these rare requests.
            if let method = message.method, SessionState.methods.contains(method), await session.note(message) {
                await host.remember(message, on: session)
            }
            return try await call(message, lease: lease, owner: owner, request: request)
        case .batch:
            guard MCPProtocolVersion.allowsBatches(session.protocolVersion) else {
                throw MCPRequestError.batchNotAllowed(version: session.protocolVersion)
            }
            let response = await batch(message, session: session)
            await lease.release()
            return response
        }
    }

    /// Sends a request and answers it as JSON or SSE. `origin` tells apart the clients sharing a
    /// user child; `relay` decides about each server→client request the child sends during the
    /// call (nil: all go to the client); one it declines is refused to the child.
    /// A request that never reached the child (it died between two requests) goes once to the
    /// conversation's next child: the tool did not run, so nothing runs twice.
    func call(_ message: JSONRPCMessage, lease: ChildLease, owner: SessionOwner, request: Request, origin: String = "",
              relay: (@Sendable (JSONRPCMessage) async -> Bool)? = nil, resent: Bool = false) async throws -> Response {
        let started = ContinuousClock.now
        // Its record is written by the answer, a cancellation or a failure, whichever is first.
        let audited = ToolCallAudit.start(audit, message, owner: owner)
        // The bridge writes the call's events straight into the inbox; waiting on it with a
        // deadline (the JSON window, then the keep-alive interval) takes one entry of the shared
        // timer. No task, stream or timer of its own per request.
        let inbox = CallInbox(limit: host.limits.maxBufferedEventBytes, overflowKind: .call)
        let ticket: SessionTicket
        do {
            ticket = try await lease.child.send(message, origin: origin, into: inbox)
        } catch .childGone where !resent {
            await host.childGone(lease.child)
            let renewed: ChildLease
            do {
                renewed = try await host.renew(lease, owner: owner)
            } catch {
                throw MCPRequestError.session(error, rawID: message.rawID, challenge: challenge(for: error))
            }
            return try await call(message, lease: renewed, owner: owner, request: request, origin: origin, relay: relay, resent: true)
        } catch {
            await lease.release()
            audited?.failed()
            // A busy child (`.childBusy`) stays: only this request is answered, never `childGone`.
            throw MCPRequestError.unsent(error, rawID: message.rawID) ?? MCPRequestError.malformed(.invalidRequest("not a request"))
        }
        let child = lease.child
        let answer = finalAnswer(for: message, audit: audited)
        let first = answer(await Self.next(inbox, until: .now + options.jsonWindow, relaying: relay, child: child))
        if case .item(.response(let bytes)) = first {
            SessionMetrics.bridged(method: message.method, duration: .now - started)
            await lease.release()
            return Self.json(bytes)
        }
        // The body below is not run at all when the client reset the connection before the
        // headers went out; the guard then cancels the call and frees the session on its own.
        let abandon = CleanupGuard {
            audited?.cancelled()
            await ticket.cancel(reason: "client disconnected")
            await lease.release()
        }
        let method = message.method
        let keepAlive = options.keepAliveInterval
        return Response(status: .ok, headers: MCPEventStream.headers, body: ResponseBody { writer in
            do {
                try await MCPEventStream.write(request, to: &writer, opening: [.keepAlive, Self.frame(first)]) {
                    Self.frame(answer(await Self.next(inbox, until: .now + keepAlive, relaying: relay, child: child)))
                }
            } catch {
                await abandon.run()
                return
            }
            abandon.dismiss()
            SessionMetrics.bridged(method: method, duration: .now - started)
            await lease.release()
        })
    }

    /// The call's next event (`.tick` once `deadline` passes, `.ended` when the call ended
    /// without an answer), minus the server→client requests `relay` declines (refused to the
    /// child at once, so a tool never waits for an answer nobody will send).
    private static func next(_ inbox: CallInbox, until deadline: ContinuousClock.Instant,
                             relaying relay: (@Sendable (JSONRPCMessage) async -> Bool)?, child: HostedChild) async
        -> StreamSignal<BridgeEvent>
    {
        while true {
            let signal = await inbox.next(until: deadline)
            guard let relay, case .item(.message(let bytes)) = signal, let message = try? JSONRPCMessage(bytes), message.kind == .request,
                await !relay(message)
            else { return signal }
            await child.refuse(message)
        }
    }

    private static func frame(_ signal: StreamSignal<BridgeEvent>) -> SSEFrame {
        switch signal {
        case .item(.message(let bytes)): .event(bytes)
        case .item(.response(let bytes)): .last(bytes)
        case .tick: .keepAlive
        case .ended: .end
        }
    }

    /// 2025-03-26 batches: every request is sent at once, the answers come back as one array
    /// (side messages such as progress have no stream to go to in a batch and are dropped).
    /// The answers wait together for the array, within one `FJMCP_MAX_BUFFERED_EVENT_BYTES`
    /// bound (an answer past it is a -32603 error in the array); a request that could not be
    /// sent is answered in the array too, and recorded as not delivered.
    private func batch(_ message: JSONRPCMessage, session: HostedChild) async -> Response {
        var calls: [(call: SessionCall, method: String?, audit: ToolCallAudit?)] = []
        var replies: [[UInt8]] = []
        let budget = BufferBudget(limit: host.limits.maxBufferedEventBytes)
        for element in message.batchElements() {
            guard case .success(let inner) = element else {
                if case .failure(let error) = element { replies.append(error.response) }
                continue
            }
            switch inner.kind {
            case .request where inner.method == "initialize":
                replies.append(JSONRPCEnvelope.error(
                    rawID: inner.rawID ?? Array("null".utf8), code: -32600, message: MCPRequestError.initializeInBatch.message))
            case .request:
                if let refused = refusal(of: inner, owner: session.owner) {
                    replies.append(refused)
                    continue
                }
                let audited = ToolCallAudit.start(audit, inner, owner: session.owner)
                do {
                    calls.append((try await session.sendForAnswer(inner, budget: budget), inner.method, audited))
                } catch {
                    audited?.failed()
                    let unsent = MCPRequestError.unsent(error, rawID: inner.rawID)
                    replies.append(JSONRPCEnvelope.error(rawID: inner.rawID ?? Array("null".utf8), code: unsent?.code ?? error.code,
                                                         message: unsent?.message ?? "the request was not sent"))
                }
            case .notification:
                if (try? await session.forward(inner)) == true { await host.remember(inner, on: session) }
            case .response, .errorResponse:
                _ = await session.deliver(inner)
            case .batch:
                replies.append(JSONRPCParseError.invalidRequest("nested batch").response)
            }
        }
        for (call, method, audited) in calls {
            for await event in call.events {
                guard case .response(let bytes) = event else { continue }
                audited?.answered(bytes)
                replies.append(tools.filterAnswer(bytes, for: method))
            }
        }
        guard !replies.isEmpty else { return Response(status: .accepted) }
        return Self.json(Array("[".utf8) + Array(replies.joined(separator: Array(",".utf8))) + Array("]".utf8))
    }
}
