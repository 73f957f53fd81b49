import AsyncHTTPClient
import BrokerKit
import FakeForgejo
import Foundation
import Hummingbird
import Logging
import NIOCore
import XCTest

/// A Forgejo (or a proxy in front of it) that sends the response head and then stalls the body.
/// AsyncHTTPClient's deadline ends with the head, so without the client's own bound a refresh
/// would wait for ever — and with it every session start and child swap joined to that
/// single-flight refresh.
final class UpstreamStalledBodyTests: XCTestCase {
    private var server: BackgroundServer?
    private var http: HTTPClient!
    private var baseURL = ""

    override func setUp() async throws {
        let router = Router()
        let stalled: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: #"{"access_token":"#))
                try await Task.sleep(for: .seconds(120))
            })
        }
        router.get("api/v1/version", use: stalled)
        router.post("login/oauth/access_token", use: stalled)
        var logger = Logger(label: "stalled-forgejo")
        logger.logLevel = .critical
        let server = try await BackgroundServer.start(logger: logger) { onServerRunning in
            Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                        onServerRunning: onServerRunning, logger: logger)
        }
        self.server = server
        baseURL = "http://127.0.0.1:\(server.port)"
        http = HTTPClient(eventLoopGroupProvider: .singleton)
    }

    override func tearDown() async throws {
        try await http?.shutdown()
        await server?.stop()
    }

    private func client() -> ForgejoClient {
        ForgejoClient(httpClient: http, configuration: .init(
            baseURL: baseURL, clientID: "id", clientSecret: "secret", callbackURL: "https://broker.example/oauth/callback",
            requestTimeout: .milliseconds(500)))
    }

    private func assertTimesOut(_ operation: () async throws(UpstreamError) -> Void, file: StaticString = #filePath,
                                line: UInt = #line) async {
        let started = ContinuousClock.now
        do {
            try await operation()
            XCTFail("a stalled body cannot be a success", file: file, line: line)
        } catch {
            XCTAssertEqual(error, .transient(reason: .timeout), file: file, line: line)
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5), "the bound covers the body", file: file, line: line)
    }

    func testAStalledAPIBodyIsATransientTimeout() async {
        let client = client()
        await assertTimesOut { () throws(UpstreamError) in _ = try await client.version() }
    }

    func testAStalledRefreshBodyIsATransientTimeout() async {
        let client = client()
        await assertTimesOut { () throws(UpstreamError) in _ = try await client.refresh(refreshToken: "r") }
    }
}
