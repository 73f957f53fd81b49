import BrokerKit
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import HummingbirdTesting
import XCTest

/// Exercises the server assembly over real loopback sockets (`.live`), as clients see it.
final class HTTPServerTests: XCTestCase {
    struct EchoBody: RouteProvider {
        func addRoutes(to router: Router<BrokerRequestContext>) {
            router.get("/test/fail") { _, _ -> String in
                struct StoreDown: Error {}
                throw StoreDown()
            }
            router.post("/test/echo") { request, context in
                let body = try await request.body.collect(upTo: context.maxUploadSize)
                return "\(body.readableBytes)"
            }
        }
    }

    func makeConfig() throws -> BrokerConfig {
        try BrokerConfig.load(from: ConfigSource(environment: [
            "FJMCP_PUBLIC_URL": "https://mcp.example.org", "FORGEJO_URL": "https://f.example.org",
            "FORGEJO_CLIENT_ID": "id", "FORGEJO_CLIENT_SECRET": "s", "FJMCP_MAX_BODY_SIZE": "2048",
        ]))
    }

    func makeApp(checks: [ReadinessCheck] = [], metricsAllow: String = "loopback") throws -> some ApplicationProtocol {
        var config = try makeConfig()
        config.metricsAllow = try BrokerConfig.load(from: ConfigSource(environment: [
            "FJMCP_PUBLIC_URL": "https://mcp.example.org", "FORGEJO_URL": "https://f.example.org",
            "FORGEJO_CLIENT_ID": "id", "FORGEJO_CLIENT_SECRET": "s", "FJMCP_METRICS_ALLOW": metricsAllow,
        ])).metricsAllow
        let router = BrokerServer.makeRouter(config: config, checks: checks, providers: [EchoBody()])
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    func testHealthzAndSecurityHeaders() async throws {
        try await makeApp().test(.live) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(String(buffer: response.body), #"{"status":"ok"}"#)
                XCTAssertEqual(response.headers[.contentType], "application/json")
                XCTAssertEqual(response.headers[HTTPField.Name("X-Frame-Options")!], "DENY")
                XCTAssertEqual(response.headers[HTTPField.Name("X-Content-Type-Options")!], "nosniff")
                XCTAssertEqual(response.headers[.cacheControl], "no-store")
                XCTAssertEqual(response.headers[.strictTransportSecurity], "max-age=31536000")
            }
        }
    }

    func testReadyzReportsRequiredAndOptionalChecks() async throws {
        struct Down: Error {}
        let healthy = try makeApp(checks: [ReadinessCheck(name: "store", required: true) {}])
        try await healthy.test(.live) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(String(buffer: response.body), #"{"checks":{"store":"ok"},"status":"ok"}"#)
            }
        }
        let degraded = try makeApp(checks: [ReadinessCheck(name: "store", required: true) {},
                                           ReadinessCheck(name: "forgejo", required: false) { throw Down() }])
        try await degraded.test(.live) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertTrue(String(buffer: response.body).contains(#""status":"degraded""#))
            }
        }
        let down = try makeApp(checks: [ReadinessCheck(name: "store", required: true) { throw Down() }])
        try await down.test(.live) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                XCTAssertEqual(response.status, .serviceUnavailable)
                XCTAssertTrue(String(buffer: response.body).contains(#""store":"failing""#))
            }
        }
    }

    func testReadyzChecksARealStore() async throws {
        let dir = try TemporaryDirectory()
        let store = try SQLiteStore(path: dir.path + "/db.sqlite")
        let app = try makeApp(checks: [ReadinessCheck(name: "store", required: true) { try await store.ping() }])
        try await app.test(.live) { client in
            try await client.execute(uri: "/readyz", method: .get) { XCTAssertEqual($0.status, .ok) }
            try store.close()
            // Probe results are cached for a couple of seconds; the failure must show within that bound.
            var status = HTTPResponse.Status.ok
            let deadline = ContinuousClock.now + .seconds(5)
            while status == .ok && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                status = try await client.execute(uri: "/readyz", method: .get) { $0.status }
            }
            XCTAssertEqual(status, .serviceUnavailable)
        }
    }

    func testMetricsExposition() async throws {
        try await makeApp().test(.live) { client in
            try await client.execute(uri: "/healthz", method: .get) { _ in }
            try await client.execute(uri: "/metrics", method: .get) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(response.headers[.contentType], "text/plain; version=0.0.4; charset=utf-8")
                let text = String(buffer: response.body)
                XCTAssertTrue(text.contains("process_resident_memory_bytes"), text)
                XCTAssertTrue(text.contains("process_open_fds"))
                XCTAssertTrue(text.contains(#"hb_requests{http_route="/healthz",http_request_method="GET",http_response_status_code="200"}"#),
                              "requests are counted by route, method and status:\n\(text)")
                XCTAssertTrue(text.contains("# TYPE http_server_request_duration histogram"), "and timed")
            }
        }
    }

    func testUnexpectedErrorsBecomeGeneric500JSONWithHeaders() async throws {
        try await makeApp().test(.live) { client in
            try await client.execute(uri: "/test/fail", method: .get) { response in
                XCTAssertEqual(response.status, .internalServerError)
                XCTAssertEqual(String(buffer: response.body), #"{"error":"server_error","error_description":"internal error"}"#)
                XCTAssertEqual(response.headers[.cacheControl], "no-store")
                XCTAssertNotNil(response.headers[HTTPField.Name("X-Request-Id")!])
            }
            try await client.execute(uri: "/nope", method: .get) { response in
                XCTAssertEqual(response.status, .notFound)
                XCTAssertEqual(response.headers[HTTPField.Name("X-Frame-Options")!], "DENY", "404s carry the security headers too")
            }
        }
    }

    func testMetricsAndReadinessAreHiddenFromOtherAddresses() async throws {
        // Requests arrive from 127.0.0.1; an allow-list without loopback must hide the routes.
        try await makeApp(metricsAllow: "10.0.0.0/8").test(.live) { client in
            try await client.execute(uri: "/metrics", method: .get) { XCTAssertEqual($0.status, .notFound) }
            try await client.execute(uri: "/readyz", method: .get) { XCTAssertEqual($0.status, .notFound) }
            try await client.execute(uri: "/healthz", method: .get) { XCTAssertEqual($0.status, .ok) }
        }
        try await makeApp(metricsAllow: "any").test(.live) { client in
            try await client.execute(uri: "/metrics", method: .get) { XCTAssertEqual($0.status, .ok) }
        }
    }

    func testOversizedBodyGets413JSON() async throws {
        try await makeApp().test(.live) { client in
            try await client.execute(uri: "/test/echo", method: .post, body: ByteBuffer(repeating: 0x41, count: 4096)) { response in
                XCTAssertEqual(response.status, .contentTooLarge)
                XCTAssertEqual(response.headers[.contentType], "application/json")
                XCTAssertEqual(String(buffer: response.body), #"{"error":"payload_too_large","error_description":"request body exceeds 2048 bytes"}"#)
            }
            try await client.execute(uri: "/test/echo", method: .post, body: ByteBuffer(repeating: 0x41, count: 1000)) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(String(buffer: response.body), "1000")
            }
        }
    }

    func testRequestIDIsEchoedOrGenerated() async throws {
        let header = HTTPField.Name("X-Request-Id")!
        try await makeApp().test(.live) { client in
            try await client.execute(uri: "/healthz", method: .get, headers: [header: "trace-123"]) { response in
                XCTAssertEqual(response.headers[header], "trace-123")
            }
            try await client.execute(uri: "/healthz", method: .get) { response in
                let generated = try XCTUnwrap(response.headers[header])
                XCTAssertGreaterThanOrEqual(generated.count, 16)
            }
            try await client.execute(uri: "/healthz", method: .get, headers: [header: String(repeating: "x", count: 300)]) { response in
                XCTAssertNotEqual(response.headers[header]?.count, 300, "absurd ids are replaced")
            }
            try await client.execute(uri: "/nope", method: .get, headers: [header: "trace-404"]) { response in
                XCTAssertEqual(response.status, .notFound)
                XCTAssertEqual(response.headers[header], "trace-404")
            }
        }
    }

    func testClientAddressTrustsOnlyConfiguredProxies() throws {
        let loopback = IPRange.loopback
        let peer = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        XCTAssertEqual(ClientAddress.resolve(peer: peer, forwardedFor: ["203.0.113.7"], trusted: loopback), "203.0.113.7")
        XCTAssertEqual(ClientAddress.resolve(peer: peer, forwardedFor: ["198.51.100.1, 203.0.113.7, 127.0.0.1"], trusted: loopback), "203.0.113.7")
        let stranger = try SocketAddress(ipAddress: "192.0.2.10", port: 1)
        XCTAssertEqual(ClientAddress.resolve(peer: stranger, forwardedFor: ["203.0.113.7"], trusted: loopback), "192.0.2.10")
        XCTAssertEqual(ClientAddress.resolve(peer: peer, forwardedFor: ["not-an-ip"], trusted: loopback), "127.0.0.1")
    }
}
