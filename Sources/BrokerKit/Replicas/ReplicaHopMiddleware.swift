import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The forwarding hop on the `/mcp` route group, installed only in replica mode, after the
/// access middleware (Host, Origin, bearer token). A request for a session or user whose child
/// another live replica holds fails in the handler with `SessionError.heldElsewhere` before
/// anything was sent to a child; this middleware then sends the same request to that replica
/// and streams its answer back.
///
/// A request that itself arrived through a hop (valid `Fjmcp-Replica-Hop`) is served here and
/// never forwarded again: two replicas that each believe the other holds a child answer 503
/// (the client retries once the store agrees) instead of bouncing the request between them.
/// When the holder is this replica's previous life (restarted within the lapse), it waits for
/// that lapse as a request that arrived here directly does.
/// Its client address is the one the forwarding replica saw. A hop header that does not verify
/// is refused with 403: only a replica with the shared secret may claim to be one.
///
/// A holder that cannot be connected to is presumed dead (killed, its machine gone): the request
/// never left, so it is not failed but waits, asking again when the holder's last beat is a
/// lapse old (each attempt reads the record and tries a claim, so not sooner, and never more
/// often than every `retryInterval`), until the holder's heartbeat lapses and the handler takes the child over here (a session resumes, as
/// after a restart), so that only the requests in flight on the dead replica fail. A holder that
/// is alive but unreachable from here keeps its claim; after `patience` the request is answered
/// 503 with Retry-After 1. A request that may have reached the holder (the connection broke
/// afterwards, or no answer came in time) may have run there: it is answered 502 (504 for the
/// timeout) at once, and neither sent again nor run here.
public struct ReplicaHopMiddleware: RouterMiddleware {
    public typealias Context = BrokerRequestContext
    static let retryInterval: Duration = .milliseconds(250)
    let forwarder: ReplicaForwarder
    let patience: Duration
    /// The replicas' lapse (`FJMCP_REPLICA_LAPSE`): a holder's child may be taken over this long
    /// after its last beat.
    let lapse: Duration
    /// The placement's memo of holders: a holder the hop cannot reach is forgotten there, so the
    /// next attempt asks the store (which takes the child over once the holder lapsed).
    let holders: ReplicaHolderMemo?

    /// `patience`: how long a request waits for a holder that does not answer to lapse; the
    /// replica lapse plus a margin and one heartbeat.
    /// `headTimeout`: how long the holder may take to its response head (it may have to start
    /// the child first). `keepAliveInterval`: the endpoint's SSE keep-alive interval
    /// (`MCPEndpoint.Options`); a relayed answer silent for three of them (the holder writes at
    /// least one each), or for `headTimeout` if that is longer (one read timeout covers both: 75 s
    /// with the defaults), is ended, its holder gone.
    public init(identity: ReplicaIdentity, masterKey: [UInt8], previousMasterKeys: [[UInt8]], lapse: Duration, patience: Duration,
                keepAliveInterval: Duration, headTimeout: Duration, holders: ReplicaHolderMemo? = nil) {
        forwarder = ReplicaForwarder(identity: identity, signature: ReplicaHopSignature(
            key: ReplicaHopKey(masterKey: masterKey, previousMasterKeys: previousMasterKeys)), headTimeout: headTimeout,
            idleTimeout: keepAliveInterval * 3)
        self.lapse = lapse
        self.patience = patience
        self.holders = holders
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let arrivedAt = ContinuousClock.now
        // Collected once, bounded as the handlers do; their own collect then returns this buffer,
        // and the request keeps its connection stream behind it, which the SSE writers watch.
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        guard let hop = request.headers[.replicaHop] else {
            return try await serve(request, body: body, context: context, arrivedAt: arrivedAt, forwarding: true, next: next)
        }
        var context = context
        let client = request.headers[.replicaClient] ?? "-"
        do {
            let facts = ReplicaHopFacts(request, body: body, clientAddress: client, target: forwarder.identity.id)
            let sender = try forwarder.signature.verify(hop, facts: facts, now: Date())
            context.clientAddress = client
            context.logger[metadataKey: "client"] = .string(client)
            context.logger[metadataKey: "hop_from"] = .string(sender)
        } catch {
            ReplicaHopMetrics.hop(.invalid)
            // The header's value is never logged: it is what an attacker controls.
            context.logger.warning("replica hop refused", metadata: [
                "reason": .string(error.description), "peer": .string(context.peerAddress?.ipAddress ?? "-"),
            ])
            throw ReplicaHopRefusal()
        }
        var response: Response
        do {
            response = try await serve(request, body: body, context: context, arrivedAt: arrivedAt, forwarding: false, next: next)
        } catch let error as any HTTPResponseError {
            // Answered here rather than by the outer middleware, so that errors (a 401, a 404,
            // a refused onward hop) carry the handling time too.
            response = try error.response(from: request, context: context)
        }
        response.headers[.replicaHandled] = String((ContinuousClock.now - arrivedAt) / .microseconds(1))
        return response
    }
}

extension ReplicaHopMiddleware {
    /// Serves `request` here, or (when `forwarding`: it did not arrive through a hop) where its
    /// child lives; waits for a holder that cannot be reached, or is this replica's previous
    /// life, to lapse (see the type's comment). Calling the handler again is safe:
    /// `.heldElsewhere` is thrown before anything reached a child, and the forward it led to
    /// never left.
    private func serve(_ request: Request, body: ByteBuffer, context: Context, arrivedAt: ContinuousClock.Instant,
                       forwarding: Bool, next: (Request, Context) async throws -> Response) async throws -> Response
    {
        var giveUpAt: ContinuousClock.Instant?
        while true {
            do {
                return try await next(request, context)
            } catch let error as MCPRequestError {
                guard case .session(.heldElsewhere(let holder), let rawID, _) = error else { throw error }
                // A holder at this replica's own address is its previous life (killed, restarted
                // within the lapse): nobody answers for it, so no hop to self, only the wait.
                let previousLife = holder.id == forwarder.identity.id || holder.address == forwarder.identity.address
                if !previousLife {
                    guard forwarding else {
                        // One hop at most: 503, the client retries once the store agrees.
                        ReplicaHopMetrics.hop(.refusedOnward)
                        throw error
                    }
                    do throws(ReplicaHopFailure) {
                        return try await forwarder.forward(request, body: body, context: context, to: holder, arrivedAt: arrivedAt)
                    } catch {
                        // One that never left (`.undelivered`) waits for the holder's lapse below.
                        if let failed = ReplicaHopFailed(error, rawID: rawID) { throw failed }
                    }
                }
                holders?.forget(replicaID: holder.id)
                let deadline = giveUpAt ?? .now + patience
                giveUpAt = deadline
                let now = ContinuousClock.now
                guard now + Self.retryInterval < deadline else { throw error }
                let lapsesIn = Duration.seconds(holder.heartbeatAt.addingTimeInterval(lapse.seconds).timeIntervalSinceNow)
                try await Task.sleep(for: min(max(lapsesIn, Self.retryInterval), deadline - now))
            }
        }
    }
}

/// The answer to a request whose `Fjmcp-Replica-Hop` header does not verify: 403 with a
/// JSON-RPC error, saying nothing about why (the log says).
struct ReplicaHopRefusal: Error, HTTPResponseError {
    var status: HTTPResponse.Status { .forbidden }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        .jsonRPCError(status: status, rawID: nil, code: -32600, message: "Forbidden: invalid replica hop")
    }
}

/// The answer to a forwarded request that is not waited on, with the request's JSON-RPC error
/// as the endpoint's own errors carry it. One that may have reached its holder but got no answer
/// (`.lost`): 502, or 504 when the holder did not answer in time; no Retry-After: whether to
/// send it again (it may have run) is the client's call. One whose target cannot be forwarded
/// unchanged (`.unsendable`): 400.
struct ReplicaHopFailed: Error, HTTPResponseError {
    /// The failures a client is answered for.
    enum Outcome: Equatable {
        case lost(timedOut: Bool)
        case unsendable
    }

    let outcome: Outcome
    let rawID: [UInt8]?

    /// Nil for a request that never left (`.undelivered`): that one is not answered but waits.
    init?(_ failure: ReplicaHopFailure, rawID: [UInt8]?) {
        switch failure {
        case .undelivered: return nil
        case .lost(let timedOut): outcome = .lost(timedOut: timedOut)
        case .unsendable: outcome = .unsendable
        }
        self.rawID = rawID
    }

    var status: HTTPResponse.Status {
        switch outcome {
        case .lost(timedOut: true): .gatewayTimeout
        case .lost(timedOut: false): .badGateway
        case .unsendable: .badRequest
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let message = switch outcome {
        case .lost(timedOut: true): "The replica holding this session did not answer in time; the request may have run there"
        case .lost(timedOut: false): "The connection to the replica holding this session broke; the request may have run there"
        case .unsendable: "Bad Request: this request target cannot be forwarded to the replica holding this session"
        }
        return .jsonRPCError(status: status, rawID: rawID, code: outcome == .unsendable ? -32600 : -32603, message: message)
    }
}

extension Response {
    /// A JSON-RPC error answer of the hop's own (the endpoint's errors render as `MCPRequestError`).
    fileprivate static func jsonRPCError(status: HTTPResponse.Status, rawID: [UInt8]?, code: Int, message: String) -> Response {
        let body = JSONRPCEnvelope.error(rawID: rawID, code: code, message: message)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
