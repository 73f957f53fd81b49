import BrokerKit
import Foundation
import Hummingbird
import NIOCore

/// A test-only `/mcp` that answers `{"authenticated": "<login>"}` behind the real bearer check,
/// so the OAuth suites prove the issued tokens end to end without starting MCP children.
struct BearerEchoRoute: RouteProvider {
    let bearer: BearerAuthenticator

    func addRoutes(to router: Router<BrokerRequestContext>) {
        for method in [HTTPRequest.Method.post, .get, .delete] {
            router.on("/mcp", method: method) { request, context in
                let principal = try await bearer.authenticate(request, context: context)
                let body = try JSONSerialization.data(withJSONObject: ["authenticated": principal.login])
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
            }
        }
    }
}
