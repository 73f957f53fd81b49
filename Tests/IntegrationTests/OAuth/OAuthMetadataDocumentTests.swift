import AsyncHTTPClient
import BrokerKit
import Foundation
import Hummingbird
import XCTest

/// Client metadata documents that must be refused: each with its reason code from the fetcher
/// (what the log and metrics get), while the browser only ever learns that the document could
/// not be used.
final class OAuthMetadataDocumentTests: XCTestCase {
    static func authorizePage(_ broker: OAuthTestBroker, clientID: String, browser: ScriptedBrowser) async throws -> ScriptedBrowser.Page {
        let client = OAuthTestClient(clientID: clientID, secret: nil, redirectURI: "http://127.0.0.1:7777/cb", authMethod: "none")
        return try await browser.get(broker.authorizeURL(client: client, pkce: .make()))
    }

    func assertGenericPage(_ page: ScriptedBrowser.Page, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(page.status, 400, label, file: file, line: line)
        XCTAssertNil(page.location, label, file: file, line: line)
        XCTAssertTrue(page.body.contains("cimd_unusable"), "\(label): \(page.body)", file: file, line: line)
        XCTAssertTrue(page.body.contains("metadata document could not be used."), "\(label): \(page.body)", file: file, line: line)
        XCTAssertFalse(page.body.replacingOccurrences(of: "cimd_unusable", with: "").contains("cimd_"),
                       "\(label) leaks its reason: \(page.body)", file: file, line: line)
    }

    /// Each URL is refused by `fetcher` with its reason.
    func assertRefused(_ cases: [(String, MetadataDocumentError)], by fetcher: MetadataDocumentFetcher,
                       file: StaticString = #filePath, line: UInt = #line) async {
        for (url, expected) in cases {
            do {
                _ = try await fetcher.fetch(url, now: Date())
                XCTFail("\(url) was accepted", file: file, line: line)
            } catch {
                XCTAssertEqual(error, expected, url, file: file, line: line)
            }
        }
    }

    func testBadDocumentsAreRefusedWithTheirReasonInTheLogOnly() async throws {
        let host = try await DocumentHost.start()
        let valid = { (id: String) in #"{"client_id":"\#(id)","client_name":"Doc","redirect_uris":["http://127.0.0.1:7777/cb"]}"# }
        await host.serve("/huge.json", body: valid(host.url("/huge.json")) + String(repeating: " ", count: 6_000))
        await host.serve("/slow.json", body: valid(host.url("/slow.json")), delay: .seconds(2))
        await host.serve("/redirect.json", body: "", status: .found, headers: [.location: host.url("/ok.json")])
        await host.serve("/liar.json", body: valid("https://other.example/client.json"))
        await host.serve("/html.json", body: "<html>hi</html>")
        await host.serve("/noname.json", body: #"{"client_id":"\#(host.url("/noname.json"))","redirect_uris":["http://127.0.0.1:7777/cb"]}"#)
        await host.serve("/secret.json", body: #"{"client_id":"\#(host.url("/secret.json"))","client_name":"D","redirect_uris":["http://127.0.0.1:7777/cb"],"token_endpoint_auth_method":"client_secret_basic"}"#)
        let cases: [(String, MetadataDocumentError)] = [
            ("/huge.json", .tooLarge), ("/slow.json", .timeout), ("/redirect.json", .redirected),
            ("/liar.json", .clientIDMismatch), ("/html.json", .invalidJSON), ("/noname.json", .missingField("client_name")),
            ("/missing.json", .httpStatus(404)), ("/secret.json", .unsupportedAuthMethod), ("/stall/body.json", .timeout),
        ]
        await assertRefused(cases.map { (host.url($0.0), $0.1) },
                            by: MetadataDocumentFetcher(allowPrivate: true, allowedPorts: nil, timeout: .milliseconds(500)))

        let broker = try await OAuthTestBroker.start(environment: ["FJMCP_CIMD_FETCH_TIMEOUT": "500ms"])
        let browser = ScriptedBrowser()
        for (path, _) in cases {
            assertGenericPage(try await Self.authorizePage(broker, clientID: host.url(path), browser: browser), path)
        }
        try await browser.shutdown()
        await host.stop()
        await broker.stop()
    }

    /// A host that sends headers and then stalls the body: the browser gets the error page
    /// within the deadline, and the fetch leaves nothing running behind.
    func testStalledBodyEndsAtTheDeadline() async throws {
        let host = try await DocumentHost.start()
        let broker = try await OAuthTestBroker.start(environment: ["FJMCP_CIMD_FETCH_TIMEOUT": "1s"])
        let browser = ScriptedBrowser()
        let started = ContinuousClock.now
        let page = try await Self.authorizePage(broker, clientID: host.url("/stall/one.json"), browser: browser)
        let elapsed = ContinuousClock.now - started
        assertGenericPage(page, "stalled body")
        XCTAssertLessThan(elapsed, .seconds(3), "answered at the deadline, not when the host gives up")
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(900))
        let active = await (try broker.components).authorizationServer.activeMetadataFetches
        XCTAssertEqual(active, 0)
        try await browser.shutdown()
        await host.stop()
        await broker.stop()
    }

    /// A browser that goes away ends the fetch it was waiting for, long before the deadline.
    func testBrowserGoingAwayEndsTheFetch() async throws {
        let host = try await DocumentHost.start()
        let broker = try await OAuthTestBroker.start(environment: ["FJMCP_CIMD_FETCH_TIMEOUT": "10s"])
        let impatient = HTTPClient(eventLoopGroupProvider: .singleton)
        let client = OAuthTestClient(clientID: host.url("/stall/left.json"), secret: nil, redirectURI: "http://127.0.0.1:7777/cb",
                                     authMethod: "none")
        do {
            _ = try await impatient.execute(HTTPClientRequest(url: broker.authorizeURL(client: client, pkce: .make())), timeout: .milliseconds(500))
            XCTFail("the stalled fetch answered")
        } catch {}
        try await impatient.shutdown()
        let server = try broker.components.authorizationServer
        let deadline = ContinuousClock.now + .seconds(3)
        var active = await server.activeMetadataFetches
        while active > 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            active = await server.activeMetadataFetches
        }
        XCTAssertEqual(active, 0, "the fetch ended with its only waiter, not at the 10 s deadline")
        let reached = await host.stalledResponses
        XCTAssertEqual(reached, 1)
        await host.stop()
        await broker.stop()
    }

    /// Concurrent requests for one document share one fetch; a failure is remembered briefly.
    func testConcurrentRequestsShareOneFetchAndFailuresAreRemembered() async throws {
        let host = try await DocumentHost.start()
        let broker = try await OAuthTestBroker.start(environment: ["FJMCP_RATE_LIMIT_AUTHORIZE": "off"])
        let id = host.url("/shared.json")
        await host.serve("/shared.json", body: #"{"client_id":"\#(id)","client_name":"Doc","redirect_uris":["http://127.0.0.1:7777/cb"]}"#,
                         delay: .milliseconds(500))
        let browser = ScriptedBrowser()
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<10 { group.addTask { try await Self.authorizePage(broker, clientID: id, browser: browser).status } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(statuses, Array(repeating: 200, count: 10))
        let shared = await host.fetches
        XCTAssertEqual(shared, 1)

        let missing = host.url("/missing.json")
        for _ in 0..<3 { assertGenericPage(try await Self.authorizePage(broker, clientID: missing, browser: browser), "missing") }
        let afterFailures = await host.fetches
        XCTAssertEqual(afterFailures, 2, "a failed URL is not fetched again at once")
        try await browser.shutdown()
        await host.stop()
        await broker.stop()
    }

    func testPlainHTTPPortsAndPrivateAddressesAreRefusedWithoutTheTestSettings() async throws {
        let cases: [(String, MetadataDocumentError)] = [
            ("http://127.0.0.1:1/client.json", .notHTTPS), ("https://127.0.0.1/client.json", .privateAddress),
            ("https://10.0.0.1/client.json", .privateAddress), ("https://[::1]/client.json", .privateAddress),
            ("https://[::10.0.0.1]/client.json", .privateAddress), ("https://[::ffff:192.168.1.1]/client.json", .privateAddress),
            ("https://[64:ff9b::7f00:1]/client.json", .privateAddress), ("https://[2002:a00:1::1]/client.json", .privateAddress),
            ("https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/client.json", .privateAddress),
            ("https://localhost/client.json", .privateAddress), ("https://app.example", .malformedURL),
            ("https://app.example:8443/client.json", .portNotAllowed), ("https://app.example:22/client.json", .portNotAllowed),
        ]
        // Every case is refused before any connection; the deadline only has to outlast a name
        // lookup of "localhost" on a loaded machine (2 s did not, once, in a full parallel run).
        await assertRefused(cases, by: MetadataDocumentFetcher(allowPrivate: false, timeout: .seconds(10)))
        let broker = try await OAuthTestBroker.start(environment: ["FJMCP_CIMD_ALLOW_PRIVATE": "false", "FJMCP_CIMD_PORTS": "443"])
        let browser = ScriptedBrowser()
        for (clientID, _) in cases {
            assertGenericPage(try await Self.authorizePage(broker, clientID: clientID, browser: browser), clientID)
        }
        try await browser.shutdown()
        await broker.stop()
    }

    func testDocumentIsCachedWithinItsTTL() async throws {
        let broker = try await OAuthTestBroker.start()
        let host = try await DocumentHost.start()
        let browser = ScriptedBrowser()
        let id = host.url("/c.json")
        await host.serve("/c.json", body: #"{"client_id":"\#(id)","client_name":"Doc","redirect_uris":["http://127.0.0.1:7777/cb"]}"#,
                         headers: [.cacheControl: "max-age=600"])
        _ = try await Self.authorizePage(broker, clientID: id, browser: browser)
        _ = try await Self.authorizePage(broker, clientID: id, browser: browser)
        let cached = await host.fetches
        XCTAssertEqual(cached, 1)
        let stored = try await broker.store.client(id: id)
        XCTAssertNotNil(stored?.expiresAt)
        try await browser.shutdown()
        await host.stop()
        await broker.stop()
    }
}
