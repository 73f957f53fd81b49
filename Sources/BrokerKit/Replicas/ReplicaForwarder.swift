import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

extension HTTPField.Name {
    static let lastEventID = Self("Last-Event-ID")!
    /// On the answer to a hop: how long the holder took to its response head, in microseconds,
    /// so the forwarding replica can tell the hop's own cost apart (`fjmcp_replica_hop_added_seconds`).
    static let replicaHandled = Self("Fjmcp-Replica-Handled")!
}

/// Why a forward produced no answer from the holder.
enum ReplicaHopFailure: Error, Equatable {
    /// No connection to the holder could be made (refused, connect timeout, name not resolved):
    /// the request never left this replica, so it may wait for the holder's lapse and run elsewhere.
    case undelivered
    /// The connection broke, or the holder sent no response head in time, after the request
    /// may have reached it: it may have run there, so it is never sent again nor run here.
    case lost(timedOut: Bool)
    /// The request target would not reach the holder as the client sent it (and as the hop
    /// signs it): Foundation's URL, which AsyncHTTPClient sends through, rejects or re-encodes it.
    case unsendable
}

/// Sends a request that arrived on this replica to the replica holding its child, and streams
/// that replica's answer back: status, the headers an MCP client reads, and the body chunk by
/// chunk (an SSE answer is never buffered). The hop is signed (`ReplicaHopSignature`) so the
/// holder trusts the client address and does not forward it again.
struct ReplicaForwarder: Sendable {
    /// One connection pool per process for every hop (per idle limit, which a process has one
    /// of): replicas are few, so their connections stay warm. Never shut down (a static lives as
    /// long as the process), like `HTTPClient.shared`. A holder that cannot be reached must be known quickly (the request
    /// then waits for the holder's lapse and is served here): a short connect timeout, and a
    /// refused connection fails at once instead of being retried until that timeout.
    /// Every forwarded request in flight holds a connection of its own (HTTP/1), listen streams
    /// for hours, so the per-host limit is far above AsyncHTTPClient's default of 8, past which
    /// requests would queue behind long-lived streams.
    /// A holder that vanishes without a reset (its machine gone, a network partition) leaves its
    /// connections silent for ever: AsyncHTTPClient's read timeout ends a hop that read nothing
    /// for `idleTimeout`, from the request's end on, so for the response head and between
    /// body chunks alike (a client too slow to take the relayed bytes stalls the reads too).
    private static let pools = Mutex<[Duration: HTTPClient]>([:])

    private static func pool(idleTimeout: Duration) -> HTTPClient {
        pools.withLock { pools in
            if let pool = pools[idleTimeout] { return pool }
            var configuration = HTTPClient.Configuration()
            configuration.redirectConfiguration = .disallow
            configuration.timeout = HTTPClient.Configuration.Timeout(connect: .seconds(2), read: TimeAmount(idleTimeout))
            configuration.decompression = .disabled
            configuration.connectionPool.retryConnectionEstablishment = false
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 1 << 16
            let pool = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            pools[idleTimeout] = pool
            return pool
        }
    }

    /// The client's request headers the holder needs besides the MCP ones (every `Mcp-*`:
    /// session, protocol version, and the 2026-07-28 era's `Mcp-Method`, `Mcp-Name` and
    /// `Mcp-Param-*`, which the holder validates against the body): its own access middleware
    /// checks Origin and the bearer token again. Host is sent as the client sent it
    /// (AsyncHTTPClient keeps an explicit Host), since the holder compares it with the public
    /// URL, which the hop's own address is not.
    private static let requestHeaders: Set<HTTPField.Name> = [.authorization, .contentType, .accept, .lastEventID, .origin]
    /// The holder's response headers a client reads; transport headers are this hop's own.
    private static let responseHeaders: [HTTPField.Name] = [
        .contentType, .mcpSessionID, .wwwAuthenticate, .retryAfter, .cacheControl, .xAccelBuffering,
    ]
    let identity: ReplicaIdentity
    let signature: ReplicaHopSignature
    /// The whole wait for the holder's response head. Its handlers answer within the JSON window
    /// (1 s) or switch to SSE once they hold the child, which a resume may first have to start
    /// (initialize, then the tool list): longer than that, this only ends a holder that
    /// accepted and then stalled.
    let headTimeout: Duration
    private let pool: HTTPClient

    /// `idleTimeout`: how long a hop may read nothing from the holder (see `pools`); never
    /// shorter than `headTimeout`, which the same read timeout would cut short otherwise.
    init(identity: ReplicaIdentity, signature: ReplicaHopSignature, headTimeout: Duration, idleTimeout: Duration) {
        self.identity = identity
        self.signature = signature
        self.headTimeout = headTimeout
        pool = Self.pool(idleTimeout: max(idleTimeout, headTimeout))
    }

    /// Forwards `request` (its collected `body`) to `holder` and relays its answer.
    /// `arrivedAt` is when this replica started on the request, for the added-latency histogram.
    func forward(_ request: Request, body: ByteBuffer, context: BrokerRequestContext, to holder: ReplicaRecord,
                 arrivedAt: ContinuousClock.Instant) async throws(ReplicaHopFailure) -> Response
    {
        let path = request.head.path ?? "/mcp"
        guard let url = URL(string: holder.address + path), Self.requestTarget(url) == path else { throw .unsendable }
        let upstream: HTTPClientResponse
        let sent = ContinuousClock.now
        do {
            upstream = try await pool.execute(outgoing(request, url: url, body: body, context: context, to: holder),
                                                   timeout: TimeAmount(headTimeout))
        } catch {
            let failure = Self.failure(error)
            ReplicaHopMetrics.hop(failure == .undelivered ? .unreachable : .lost)
            context.logger.warning(failure == .undelivered ? "replica holding the child could not be reached"
                                                           : "request to the replica holding the child got no answer", metadata: [
                "replica": .string(holder.id), "address": .string(holder.address), "error": .string("\(error)"),
            ])
            throw failure
        }
        ReplicaHopMetrics.hop(.forwarded)
        let handled = upstream.headers.first(name: HTTPField.Name.replicaHandled.canonicalName).flatMap(Int64.init).map(Duration.microseconds)
        ReplicaHopMetrics.addedLatency((ContinuousClock.now - arrivedAt) - (handled ?? .zero))
        context.logger.debug("request forwarded to the replica holding the child", metadata: [
            "replica": .string(holder.id), "status": .string("\(upstream.status.code)"),
            "head_ms": .string(AccessLogMiddleware.milliseconds(ContinuousClock.now - sent)),
        ])
        return response(relaying: upstream, to: request)
    }

    /// What `error` from the hop's request means for it. Only a connection that was never made
    /// (refused, connect timeout, name not resolved, no connection from the pool) proves the
    /// request never left; a closed or reset connection, a read error or the head timeout may
    /// come after the holder read it and started on it (a tool call that then ran twice).
    /// A host that is gone is a connect timeout (no answer to the handshake) long before it
    /// could be "unreachable", an errno a connection in use can report too.
    static func failure(_ error: any Error) -> ReplicaHopFailure {
        // AsyncHTTPClient reports NIO's connect timeout as its own `.connectTimeout`; a refused
        // connection to an address (no name to resolve) is the socket's ECONNREFUSED, which only
        // a connection attempt can get.
        if error is NIOConnectionError || (error as? IOError)?.errnoCode == ECONNREFUSED { return .undelivered }
        return switch error as? HTTPClientError {
        case .connectTimeout?, .getConnectionFromPoolTimeout?: .undelivered
        case .deadlineExceeded?, .readTimeout?: .lost(timedOut: true)
        default: .lost(timedOut: false)
        }
    }

    /// The request target AsyncHTTPClient sends for `url` (as its `URL.uri` does).
    static func requestTarget(_ url: URL) -> String {
        let path = url.path.isEmpty ? "/" : URLComponents(url: url, resolvingAgainstBaseURL: true)?.percentEncodedPath ?? url.path
        return url.query.map { path + "?" + $0 } ?? path
    }

    /// Whether the hop sends the client's header `name` on (and so signs it).
    static func forwards(_ name: HTTPField.Name) -> Bool {
        name.canonicalName.hasPrefix("mcp-") || requestHeaders.contains(name)
    }

    private func outgoing(_ request: Request, url: URL, body: ByteBuffer, context: BrokerRequestContext,
                          to holder: ReplicaRecord) -> HTTPClientRequest {
        var outgoing = HTTPClientRequest(url: url.absoluteString)
        outgoing.method = HTTPMethod(rawValue: request.method.rawValue)
        for field in request.headers where Self.forwards(field.name) {
            outgoing.headers.add(name: field.name.rawName, value: field.value)
        }
        if let authority = request.head.authority { outgoing.headers.add(name: "Host", value: authority) }
        let facts = ReplicaHopFacts(request, body: body, clientAddress: context.clientAddress, target: holder.id)
        outgoing.headers.add(name: HTTPField.Name.replicaHop.canonicalName, value: signature.sign(facts, sender: identity.id, at: Date()))
        outgoing.headers.add(name: HTTPField.Name.replicaClient.canonicalName, value: context.clientAddress)
        // The holder logs the request under the same id, so one grep finds it on both replicas.
        outgoing.headers.add(name: HTTPField.Name.requestID.canonicalName, value: context.requestID)
        if body.readableBytes > 0 { outgoing.body = .bytes(body) }
        return outgoing
    }

    /// The holder's answer as this replica's response. An SSE body is relayed while watching
    /// the client's side of the connection, as every SSE writer here does: when the client goes
    /// away the relay is cancelled, which drops the upstream body and so cancels the hop's
    /// request, and the holder sees its client leave. Such a response closes its connection
    /// afterwards (see `MCPEventStream.headers`).
    private func response(relaying upstream: HTTPClientResponse, to request: Request) -> Response {
        var headers = HTTPFields()
        for name in Self.responseHeaders {
            for value in upstream.headers[name.canonicalName] { headers.append(HTTPField(name: name, value: value)) }
        }
        let status = HTTPResponse.Status(code: Int(upstream.status.code))
        // No body at all for these: a chunked frame would be a protocol error.
        if [204, 304].contains(status.code) { return Response(status: status, headers: headers) }
        let contentLength = upstream.headers.first(name: "Content-Length").flatMap(Int.init)
        guard headers[.contentType]?.hasPrefix("text/event-stream") == true else {
            return Response(status: status, headers: headers, body: ResponseBody(contentLength: contentLength) { writer in
                for try await chunk in upstream.body { try await writer.write(chunk) }
                try await writer.finish(nil)
            })
        }
        headers[.connection] = "close"
        return Response(status: status, headers: headers, body: ResponseBody { writer in
            try await request.body.consumeWithCancellationOnInboundClose { _ in
                for try await chunk in upstream.body { try await writer.write(chunk) }
            }
            try await writer.finish(nil)
        })
    }
}
