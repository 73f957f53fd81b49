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
        switch MCPEra.of(message, headers: request.headers) {
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
            return MCPEndpoint.json(results.discover(rawID: modern.rawID))
        }
        let started = ContinuousClock.now
        let call: BridgeCall
        do {
            call = try await child.bridge.send(forwarded)
        } catch {
            await pool.release(child)
            throw ModernRequestError(.invalidRequest("not a request"), rawID: modern.rawID)
        }
        let events = Self.clientEvents(of: call, for: modern, child: child, results: results)
        let signals = MCPEventStream.signals(events, firstTick: jsonWindow, interval: keepAliveInterval)
        var iterator = signals.makeAsyncIterator()
        let first = await iterator.next()
        let pool = pool
        let method = modern.method
        if case .item(.response(let bytes))? = first {
            SessionMetrics.bridged(method: method, duration: .now - started)
            await pool.release(child)
            var response = MCPEndpoint.json(bytes)
            if ModernResult.isMethodNotFound(bytes) { response.status = .notFound }
            return response
        }
        return Response(status: .ok, headers: MCPEventStream.headers, body: ResponseBody { writer in
            do {
                try await MCPEventStream.relay(first: first, then: signals, request: request, to: &writer)
            } catch {
                // Closing the response stream is the modern client's only way to cancel.
                await child.bridge.cancel(call.ticket, reason: "client closed the response stream")
                await pool.release(child)
                return
            }
            SessionMetrics.bridged(method: method, duration: .now - started)
            await pool.release(child)
            try await writer.finish(nil)
        })
    }

    /// Runs every event of the call through `ModernRelay` into the stream the writer reads.
    static func clientEvents(of call: BridgeCall, for modern: ModernRequest, child: PooledChild, results: ModernResult)
        -> AsyncStream<BridgeEvent>
    {
        let (events, continuation) = AsyncStream<BridgeEvent>.makeStream()
        let relay = Task {
            for await event in call.events {
                switch ModernRelay.disposition(of: event, for: modern, results: results) {
                case .send(let event): continuation.yield(event)
                case .answerChild(let request): await child.answerServerRequest(request)
                case .drop: continue
                }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in relay.cancel() }
        return events
    }
}

/// What the modern client may see of a call: progress only if it sent a token, log messages
/// only at or above its `logLevel`, the translated response. Server→client requests go back to
/// the child as answers (a 2026-07-28 server never sends requests on a stream), and every other
/// notification is dropped (it belongs on `subscriptions/listen`, which this slice lacks).
enum ModernRelay {
    enum Disposition {
        case send(BridgeEvent)
        case answerChild(JSONRPCMessage)
        case drop
    }

    static func disposition(of event: BridgeEvent, for modern: ModernRequest, results: ModernResult) -> Disposition {
        switch event {
        case .response(let bytes):
            return .send(.response(results.translate(bytes, method: modern.method, rawID: modern.rawID)))
        case .message(let bytes):
            guard let message = try? JSONRPCMessage(bytes) else { return .drop }
            if message.kind == .request { return .answerChild(message) }
            return isRelayed(message, for: modern) ? .send(event) : .drop
        }
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
