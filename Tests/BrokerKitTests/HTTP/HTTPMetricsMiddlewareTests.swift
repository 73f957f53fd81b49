import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import XCTest

@testable import BrokerKit

/// `HTTPMetricsMiddleware` records Hummingbird's series: answers of known length when handed
/// over, streamed ones after their end, errors by status.
final class HTTPMetricsMiddlewareTests: XCTestCase {
    private func makeApp() -> some ApplicationProtocol {
        BrokerMetrics.bootstrap()
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: HTTPMetricsMiddleware())
        router.get("/metrics-test/fixed") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "fixed"))) }
        router.get("/metrics-test/stream") { _, _ in
            Response(status: .ok, body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "first "))
                try await Task.sleep(for: .milliseconds(300))
                try await writer.write(ByteBuffer(string: "last"))
                try await writer.finish(nil)
            })
        }
        router.get("/metrics-test/refused") { _, _ -> Response in throw HTTPError(.badRequest) }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    private func exposition() -> String {
        String(decoding: BrokerMetrics.render(), as: UTF8.self)
    }

    /// The value of the sample line starting with `series` (name and labels), if any.
    private func sample(_ series: String, in text: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    func testAnswersOfKnownLengthAndStreamsAreCountedAndTimed() async throws {
        try await makeApp().test(.live) { client in
            for _ in 0..<2 {
                try await client.execute(uri: "/metrics-test/fixed", method: .get) { response in
                    XCTAssertEqual(String(buffer: response.body), "fixed")
                    XCTAssertEqual(response.headers[.contentLength], "5")
                }
            }
            try await client.execute(uri: "/metrics-test/stream", method: .get) { response in
                XCTAssertEqual(String(buffer: response.body), "first last")
            }
        }
        let text = exposition()
        let fixed = #"{http_route="/metrics-test/fixed",http_request_method="GET",http_response_status_code="200"}"#
        let stream = #"{http_route="/metrics-test/stream",http_request_method="GET",http_response_status_code="200"}"#
        XCTAssertEqual(sample("hb_requests" + fixed, in: text), 2, text)
        XCTAssertEqual(sample("http_server_request_duration_count" + fixed, in: text), 2, text)
        XCTAssertEqual(sample("hb_requests" + stream, in: text), 1, text)
        let streamed = try XCTUnwrap(sample("http_server_request_duration_sum" + stream, in: text), text)
        XCTAssertGreaterThanOrEqual(streamed, 0.3, "a stream is timed to its end, not to the handler's return")
    }

    func testErrorsAreCountedByStatus() async throws {
        try await makeApp().test(.live) { client in
            try await client.execute(uri: "/metrics-test/refused", method: .get) { response in
                XCTAssertEqual(response.status, .badRequest)
            }
        }
        let text = exposition()
        let route = #"http_route="/metrics-test/refused",http_request_method="GET""#
        XCTAssertEqual(sample("hb_request_errors{\(route),error_type=\"400\"}", in: text), 1, text)
        XCTAssertEqual(sample("hb_requests{\(route),http_response_status_code=\"400\"}", in: text), 1, text)
    }
}
