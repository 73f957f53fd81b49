import BrokerKit
import Hummingbird
import Synchronization

/// Lets a test bind the server first (port 0) and build the broker router afterwards, because
/// the router's issuer and callback URL contain the port; also lets a test "restart" the broker
/// by swapping in a router built over a new store on the same database file.
final class SwappableResponder: HTTPResponder, Sendable {
    typealias Context = BrokerRequestContext
    private let current = Mutex<RouterResponder<BrokerRequestContext>?>(nil)

    func install(_ router: Router<BrokerRequestContext>) {
        let responder = router.buildResponder()
        current.withLock { $0 = responder }
    }

    func respond(to request: Request, context: BrokerRequestContext) async throws -> Response {
        guard let responder = current.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
        return try await responder.respond(to: request, context: context)
    }
}
