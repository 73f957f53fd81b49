import Hummingbird
import NIOCore

/// `GET /mcp`: the session's server→client stream (notifications and requests of the child
/// that belong to no open POST). A second GET replaces the first (see `ServerStreamHub`).
extension MCPEndpoint {
    func openServerStream(_ request: Request, context: BrokerRequestContext) async throws -> Response {
        let owner = try await admit(request, context: context)
        try policy.checkStreamAccept(request)
        guard let sessionID = request.headers[.mcpSessionID] else { throw MCPRequestError.sessionRequired }
        let session: Session
        do throws(SessionError) {
            session = try await registry.lookup(id: sessionID, owner: owner)
        } catch {
            throw MCPRequestError.session(error, rawID: nil, challenge: nil)
        }
        try policy.checkProtocolVersion(request, negotiated: session.protocolVersion)
        guard let (streamID, messages) = await session.attachServerStream() else {
            throw MCPRequestError.session(.notFound, rawID: nil, challenge: nil)
        }
        let signals = MCPEventStream.signals(messages, firstTick: options.keepAliveInterval, interval: options.keepAliveInterval)
        return Response(status: .ok, headers: MCPEventStream.headers, body: ResponseBody { writer in
            do {
                try await request.body.consumeWithCancellationOnInboundClose { _ in
                    try await writer.write(MCPEventStream.keepAlive)
                    stream: for await signal in signals {
                        switch signal {
                        case .item(let bytes): try await writer.write(MCPEventStream.event(bytes))
                        case .tick: try await writer.write(MCPEventStream.keepAlive)
                        case .ended: break stream
                        }
                    }
                }
            } catch {
                await session.detachServerStream(streamID)
                return
            }
            await session.detachServerStream(streamID)
            try await writer.finish(nil)
        })
    }
}
