import AsyncHTTPClient
import FakeForgejo
import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// A reverse proxy in front of the fake Forgejo that can hold token-endpoint requests, so a test
/// can kill the broker at an exact point of a refresh: before Forgejo saw the request
/// (`stallBeforeForwarding`), or after Forgejo rotated the refresh token but before the broker
/// got the answer (`stallAfterForwarding`), or answer late (`delayAfterForwarding`, a slow
/// Forgejo: the broker must wait for it at shutdown). Everything else passes through unchanged.
final class StallingForgejoProxy: HTTPResponder, Sendable {
    typealias Context = BasicRequestContext

    enum Mode: Sendable, Equatable {
        case pass, stallBeforeForwarding, stallAfterForwarding
        case delayAfterForwarding(Duration)
    }

    let baseURL: String
    private let upstream: String
    private let client: HTTPClient
    private let mode = Mutex(Mode.pass)
    private let held = Atomic<Int>(0)
    private let server: Mutex<BackgroundServer?> = Mutex(nil)

    /// Token requests the proxy is holding right now.
    var heldRequests: Int { held.load(ordering: .relaxed) }

    func setMode(_ newMode: Mode) { mode.withLock { $0 = newMode } }

    private init(upstream: String, client: HTTPClient, baseURL: String) {
        self.upstream = upstream
        self.client = client
        self.baseURL = baseURL
    }

    static func start(upstream: String, client: HTTPClient) async throws -> StallingForgejoProxy {
        let box = ResponderBox()
        var logger = Logger(label: "stalling-forgejo-proxy")
        logger.logLevel = .critical
        let server = try await BackgroundServer.start(logger: logger) { onServerRunning in
            Application(responder: box, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                        onServerRunning: onServerRunning, logger: logger)
        }
        let proxy = StallingForgejoProxy(upstream: upstream, client: client, baseURL: "http://127.0.0.1:\(server.port)")
        box.proxy.withLock { $0 = proxy }
        proxy.server.withLock { $0 = server }
        return proxy
    }

    /// Stops serving; held requests are cancelled (their callers are gone by then).
    func stop() async {
        await server.withLock { $0 }?.stop()
    }

    private static let hopByHop: Set<String> = ["host", "content-length", "transfer-encoding", "connection", "keep-alive"]

    func respond(to request: Request, context: Context) async throws -> Response {
        let isToken = request.uri.path == "/login/oauth/access_token"
        let mode = isToken ? self.mode.withLock { $0 } : .pass
        if mode == .stallBeforeForwarding { try await hold() }
        var forwarded = HTTPClientRequest(url: upstream + request.uri.description)
        forwarded.method = NIOHTTP1.HTTPMethod(rawValue: request.method.rawValue)
        for field in request.headers where !Self.hopByHop.contains(field.name.canonicalName) {
            forwarded.headers.add(name: field.name.rawName, value: field.value)
        }
        forwarded.body = .bytes(try await request.body.collect(upTo: 1 << 20))
        let answer = try await client.execute(forwarded, timeout: .seconds(30))
        let body = try await answer.body.collect(upTo: 4 << 20)
        // Forgejo has now rotated the refresh token; the broker never hears of it.
        if mode == .stallAfterForwarding { try await hold() }
        if case .delayAfterForwarding(let delay) = mode { try await hold(for: delay) }
        var headers = HTTPFields()
        for (name, value) in answer.headers where !Self.hopByHop.contains(name.lowercased()) {
            if let fieldName = HTTPField.Name(name) { headers.append(HTTPField(name: fieldName, value: value)) }
        }
        return Response(status: .init(code: Int(answer.status.code)), headers: headers, body: ResponseBody(byteBuffer: body))
    }

    /// Waits for `duration`, or until cancelled (the proxy stops), counting itself as held meanwhile.
    private func hold(for duration: Duration? = nil) async throws {
        held.add(1, ordering: .relaxed)
        defer { held.subtract(1, ordering: .relaxed) }
        if let duration { return try await Task.sleep(for: duration) }
        while true { try await Task.sleep(for: .seconds(1)) }
    }
}

/// Lets the server start before the proxy (which needs the server's port) exists.
private final class ResponderBox: HTTPResponder, Sendable {
    typealias Context = BasicRequestContext
    let proxy = Mutex<StallingForgejoProxy?>(nil)

    func respond(to request: Request, context: Context) async throws -> Response {
        guard let proxy = proxy.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
        return try await proxy.respond(to: request, context: context)
    }
}
