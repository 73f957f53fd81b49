import Hummingbird
import NIOCore

/// `GET /mcp`: the session's server→client stream (notifications and requests of the child
/// that belong to no open POST). A second GET replaces the first (see `ServerStreamHub`).
extension MCPEndpoint {
    func openServerStream(_ request: Request, context: BrokerRequestContext) async throws -> Response {
        let owner = try context.owner
        try policy.checkStreamAccept(request)
        guard let sessionID = request.headers.value(.mcpSessionID) else { throw MCPRequestError.sessionRequired }
        let session: HostedChild
        do throws(SessionError) {
            session = try await host.lookup(id: sessionID, owner: owner)
        } catch {
            throw MCPRequestError.session(error, rawID: nil, challenge: nil)
        }
        try policy.checkProtocolVersion(request, negotiated: session.protocolVersion)
        guard let subscription = await session.serverStream.attach() else {
            throw MCPRequestError.session(.notFound, rawID: nil, challenge: nil)
        }
        // Detaches even when the body is never run (the client went away before the headers).
        let detach = CleanupGuard { await session.serverStream.detach(subscription.id) }
        let budget = subscription.budget
        let signals = MCPEventStream.signals(subscription.messages, firstTick: options.keepAliveInterval,
                                             interval: options.keepAliveInterval)
        return Response(status: .ok, headers: MCPEventStream.headers, body: ResponseBody { writer in
            var iterator = signals.makeAsyncIterator()
            try? await MCPEventStream.write(request, to: &writer, opening: [.keepAlive]) {
                switch await iterator.next() {
                case .item(let bytes):
                    budget.taken(bytes.count)
                    return .event(bytes)
                case .tick: return .keepAlive
                case .ended, nil: return .end
                }
            }
            await detach.run()
        })
    }
}
