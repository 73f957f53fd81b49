import FakeForgejo
import Foundation
import Hummingbird
import Logging
import NIOCore

/// A tiny HTTP server on 127.0.0.1:0 that serves client metadata documents (and misbehaves on
/// request) for CIMD tests. Plain http: the broker accepts it only with FJMCP_CIMD_ALLOW_PRIVATE
/// (and FJMCP_CIMD_PORTS=any).
///
/// Every path under `/stall/` answers 200 with headers and the first bytes of a body, then
/// never sends the rest (until the host stops): the body-stalling host of issue 15.
actor DocumentHost {
    struct Document: Sendable {
        var body: String
        var status: HTTPResponse.Status = .ok
        var headers: HTTPFields = [:]
        var delay: Duration = .zero
    }

    private var documents: [String: Document] = [:]
    private(set) var fetches = 0
    /// Responses to `/stall/…` begun.
    private(set) var stalledResponses = 0
    nonisolated let baseURL: String
    private let server: BackgroundServer

    private init(baseURL: String, server: BackgroundServer) {
        self.baseURL = baseURL
        self.server = server
    }

    static func start() async throws -> DocumentHost {
        let holder = HostHolder()
        let router = Router()
        router.get("/**") { request, _ -> Response in
            guard let host = holder.host else { return Response(status: .serviceUnavailable) }
            return await host.respond(path: request.uri.path)
        }
        var logger = Logger(label: "document-host")
        logger.logLevel = .critical
        let server = try await BackgroundServer.start(logger: logger) { onServerRunning in
            Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                        onServerRunning: onServerRunning, logger: logger)
        }
        let host = DocumentHost(baseURL: "http://127.0.0.1:\(server.port)", server: server)
        holder.host = host
        return host
    }

    nonisolated func url(_ path: String) -> String { baseURL + path }

    func serve(_ path: String, body: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], delay: Duration = .zero) {
        documents[path] = Document(body: body, status: status, headers: headers, delay: delay)
    }

    private func respond(path: String) async -> Response {
        fetches += 1
        if path.hasPrefix("/stall/") {
            stalledResponses += 1
            return Response(status: .ok, headers: [.contentType: "application/json", .contentLength: "4096"],
                            body: ResponseBody { writer in
                                try await writer.write(ByteBuffer(string: #"{"client_id":"#))
                                try await Task.sleep(for: .seconds(3_600))
                            })
        }
        guard let document = documents[path] else { return Response(status: .notFound) }
        if document.delay > .zero { try? await Task.sleep(for: document.delay) }
        var headers = document.headers
        headers[.contentType] = "application/json"
        return Response(status: document.status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: document.body)))
    }

    func stop() async {
        await server.stop()
    }
}

/// Breaks the chicken-and-egg between the router closure and the actor it calls.
private final class HostHolder: @unchecked Sendable {
    var host: DocumentHost?
}
