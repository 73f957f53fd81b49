import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Tags every request with an id (the caller's `X-Request-Id` when it is sane, else a new one),
/// puts it in every log line of the request and echoes it, so an operator can correlate a
/// client's failure report with the broker's log.
public struct RequestIDMiddleware: RouterMiddleware {
    public typealias Context = BrokerRequestContext
    let trustedProxies: [IPRange]

    public init(trustedProxies: [IPRange]) { self.trustedProxies = trustedProxies }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let incoming = request.headers.value(.requestID)
        let id = incoming.flatMap { Self.isAcceptable($0) ? $0 : nil } ?? RequestIDs.next()
        context.requestID = id
        context.clientAddress = ClientAddress.resolve(peer: context.peerAddress, forwardedFor: request.headers[values: .xForwardedFor],
                                                      trusted: trustedProxies)
        context.logger[metadataKey: "request_id"] = .string(id)
        // Inner middleware turns every error into a response, so the id can always be attached.
        var response = try await next(request, context)
        response.headers.replaceOrAppend(HTTPField(name: .requestID, value: id))
        return response
    }

    static func isAcceptable(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128 && id.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }
}

/// Fresh request ids: 16 base64url characters, a per-process random prefix then a counter.
/// An id only has to be unique for log correlation, not secret (a client may send its own), so
/// it costs an atomic increment instead of a getrandom(2) call and a Foundation base64 pass.
enum RequestIDs {
    private static let prefix = UInt64.random(in: 0..<(1 << 48))
    private static let counter = Atomic<UInt64>(0)
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func next() -> String {
        let count = counter.wrappingAdd(1, ordering: .relaxed).newValue & ((1 << 48) - 1)
        return String(unsafeUninitializedCapacity: 16) { buffer in
            for index in 0..<8 {
                let shift = UInt64(42 - 6 * index)
                buffer[index] = alphabet[Int((prefix >> shift) & 63)]
                buffer[8 + index] = alphabet[Int((count >> shift) & 63)]
            }
            return 16
        }
    }
}

/// One access-log line per request. Only the path is logged, never the query: OAuth callbacks
/// carry codes and states there. Runs outside ``SecurityHeadersMiddleware``, which turns every
/// error into a response, so it always sees the final status.
///
/// A successful `/mcp` request logs at debug: that is every tool call, where a line at info
/// would cost more than the broker's own forwarding (and `fjmcp_http_*` metrics count them
/// anyway). Every error status, and every other path, logs at info.
public struct AccessLogMiddleware: RouterMiddleware {
    public typealias Context = BrokerRequestContext

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        log(request, context, status: response.status.code, start: start)
        return response
    }

    private func log(_ request: Request, _ context: Context, status: Int, start: ContinuousClock.Instant) {
        // Runs on every request: plain integer formatting, no Foundation `String(format:)`; the
        // metadata is built only when the level is logged (the arguments are autoclosures).
        context.logger.log(level: Self.level(path: request.uri.path, status: status), "http request", metadata: [
            "method": .string(request.method.rawValue), "path": .string(request.uri.path), "status": .string(String(status)),
            "duration_ms": .string(Self.milliseconds(ContinuousClock.now - start)), "client": .string(context.clientAddress),
        ])
    }

    static func level(path: String, status: Int) -> Logger.Level {
        status < 400 && path == "/mcp" ? .debug : .info
    }

    /// `duration` in milliseconds with two decimals ("12.05").
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let hundredths = max(0, seconds * 100_000 + attoseconds / 10_000_000_000_000)
        let fraction = hundredths % 100
        return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + String(fraction)
    }
}

/// Headers every response gets. Pages are never framed (clickjacking of the consent page is the
/// classic attack on OAuth proxies) and nothing is cached unless a handler says otherwise.
public struct SecurityHeadersMiddleware: RouterMiddleware {
    public typealias Context = BrokerRequestContext
    let strictTransport: Bool

    public init(publicURL: PublicURL) { strictTransport = publicURL.isHTTPS }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            // Error responses (404s, 413s, OAuth errors) need the same protection as pages.
            response = try error.response(from: request, context: context)
        } catch {
            // Anything else is a bug or an outage (e.g. the store): log it with the request id and
            // answer a generic JSON 500 that reveals nothing internal.
            context.logger.error("unhandled error", metadata: ["error": "\(error)"])
            response = try BrokerHTTPError(.internalServerError, code: "server_error", description: "internal error")
                .response(from: request, context: context)
        }
        // Every response gets these: fields built once and appended (the subscript setter
        // validated each value and searched the fields again, six times per request).
        response.headers.reserveCapacity(response.headers.count + Self.always.count + 3)
        for field in Self.always { response.headers.replaceOrAppend(field) }
        if !response.headers.contains(.contentSecurityPolicy) { response.headers.append(Self.contentSecurityPolicy) }
        if !response.headers.contains(.cacheControl) { response.headers.append(Self.noStore) }
        if strictTransport { response.headers.replaceOrAppend(Self.strictTransportSecurity) }
        return response
    }

    private static let always = [
        HTTPField(name: .xContentTypeOptions, value: "nosniff"),
        HTTPField(name: .xFrameOptions, value: "DENY"),
        HTTPField(name: .referrerPolicy, value: "no-referrer"),
    ]
    private static let contentSecurityPolicy = HTTPField(name: .contentSecurityPolicy, value: "default-src 'none'; frame-ancestors 'none'")
    private static let noStore = HTTPField(name: .cacheControl, value: "no-store")
    private static let strictTransportSecurity = HTTPField(name: .strictTransportSecurity, value: "max-age=31536000")
}

/// Rejects bodies over the configured limit: at once from `Content-Length`, and while streaming
/// through `context.maxUploadSize` for chunked bodies.
public struct BodyLimitMiddleware: RouterMiddleware {
    public typealias Context = BrokerRequestContext
    let limit: Int

    public init(limit: Int) { self.limit = limit }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let length = request.headers.value(.contentLength).flatMap(Int.init), length > limit {
            throw BrokerHTTPError.payloadTooLarge(limit: limit)
        }
        var context = context
        context.maxUploadSize = limit
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw BrokerHTTPError.payloadTooLarge(limit: limit)
        }
    }
}

extension HTTPField.Name {
    static let requestID = Self("X-Request-Id")!
    static let xForwardedFor = Self("X-Forwarded-For")!
    static let xFrameOptions = Self("X-Frame-Options")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
}
