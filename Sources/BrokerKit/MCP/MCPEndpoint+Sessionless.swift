import Hummingbird

/// Legacy-era POSTs without `Mcp-Session-Id` (compatibility behaviour). The transport lets a
/// server answer them 400, but deployed clients send them: a hosted connector that never echoes
/// the session id, one that loses it after a restart. So a request is served on the user's child
/// (the one the 2026-07-28 era uses, which speaks 2025-11-25) and answered as a 2025-11-25 server
/// would, with no 2026-07-28 translation. A batch still needs a session.
extension MCPEndpoint {
    func sessionless(_ message: JSONRPCMessage, owner: SessionOwner, request: Request) async throws -> Response {
        SessionMetrics.sessionless()
        switch message.kind {
        case .batch:
            throw MCPRequestError.sessionRequired
        case .notification:
            // Only a cancellation means anything without a session; it names this client's request.
            guard message.method == "notifications/cancelled" else { return Response(status: .accepted) }
            try await host.routeUserChildHere(owner.userID, rawID: nil)
            if let child = await host.userChild(of: owner.userID) {
                _ = try? await child.forward(message, origin: owner.clientID)
            }
            return Response(status: .accepted)
        case .response, .errorResponse:
            try await host.routeUserChildHere(owner.userID, rawID: nil)
            if let child = await host.userChild(of: owner.userID) { _ = await child.deliver(message) }
            return Response(status: .accepted)
        case .request:
            let lease: ChildLease
            do {
                lease = try await host.acquireUserChild(owner: owner)
            } catch {
                throw MCPRequestError.session(error, rawID: message.rawID, challenge: challenge(for: error))
            }
            // The child may ask this client for input only if the client declared the capability
            // in its most recent initialize; otherwise the child hears a refusal.
            let host = host
            return try await call(message, lease: lease, owner: owner, request: request, origin: owner.clientID) { childRequest in
                guard let method = childRequest.method, let needed = ModernClientCapabilities.capability(for: method) else { return true }
                return await host.declaredCapabilities(of: owner).contains(needed)
            }
        }
    }
}
