import BrokerKit
import Foundation
import Hummingbird
import XCTest

/// Client metadata documents that must be refused, each with its reason on the error page.
final class OAuthMetadataDocumentTests: XCTestCase {
    func authorizePage(_ broker: OAuthTestBroker, clientID: String, browser: ScriptedBrowser) async throws -> ScriptedBrowser.Page {
        let client = OAuthTestClient(clientID: clientID, secret: nil, redirectURI: "http://127.0.0.1:7777/cb", authMethod: "none")
        return try await browser.get(broker.authorizeURL(client: client, pkce: .make()))
    }

    func testBadDocumentsAreRefused() async throws {
        var options = AuthorizationServer.Options()
        options.metadataFetchTimeout = .milliseconds(500)
        let broker = try await OAuthTestBroker.start(options: options)
        let host = try await DocumentHost.start()
        let browser = ScriptedBrowser()
        let valid = { (id: String) in #"{"client_id":"\#(id)","client_name":"Doc","redirect_uris":["http://127.0.0.1:7777/cb"]}"# }
        await host.serve("/huge.json", body: valid(host.url("/huge.json")) + String(repeating: " ", count: 6_000))
        await host.serve("/slow.json", body: valid(host.url("/slow.json")), delay: .seconds(2))
        await host.serve("/redirect.json", body: "", status: .found, headers: [.location: host.url("/ok.json")])
        await host.serve("/liar.json", body: valid("https://other.example/client.json"))
        await host.serve("/html.json", body: "<html>hi</html>")
        await host.serve("/noname.json", body: #"{"client_id":"\#(host.url("/noname.json"))","redirect_uris":["http://127.0.0.1:7777/cb"]}"#)
        await host.serve("/secret.json", body: #"{"client_id":"\#(host.url("/secret.json"))","client_name":"D","redirect_uris":["http://127.0.0.1:7777/cb"],"token_endpoint_auth_method":"client_secret_basic"}"#)
        let cases = [("/huge.json", "cimd_too_large"), ("/slow.json", "cimd_timeout"), ("/redirect.json", "cimd_redirect"),
                     ("/liar.json", "cimd_client_id_mismatch"), ("/html.json", "cimd_invalid_json"),
                     ("/noname.json", "cimd_missing_field"), ("/missing.json", "cimd_http_status"),
                     ("/secret.json", "cimd_unsupported_auth_method")]
        for (path, reason) in cases {
            let page = try await authorizePage(broker, clientID: host.url(path), browser: browser)
            XCTAssertEqual(page.status, 400, reason)
            XCTAssertNil(page.location, reason)
            XCTAssertTrue(page.body.contains(reason), "\(reason): \(page.body)")
        }
        try await browser.shutdown()
        await host.stop()
        await broker.stop()
    }

    func testPlainHTTPAndPrivateAddressesAreRefusedWithoutTheTestSetting() async throws {
        let broker = try await OAuthTestBroker.start(environment: ["FJMCP_CIMD_ALLOW_PRIVATE": "false"])
        let browser = ScriptedBrowser()
        let cases = [("http://127.0.0.1:1/client.json", "cimd_not_https"), ("https://127.0.0.1/client.json", "cimd_private_address"),
                     ("https://10.0.0.1/client.json", "cimd_private_address"), ("https://[::1]/client.json", "cimd_private_address"),
                     ("https://localhost/client.json", "cimd_private_address"), ("https://app.example", "cimd_malformed_url")]
        for (clientID, reason) in cases {
            let page = try await authorizePage(broker, clientID: clientID, browser: browser)
            XCTAssertEqual(page.status, 400, reason)
            XCTAssertTrue(page.body.contains(reason), "\(clientID): \(page.body)")
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
        _ = try await authorizePage(broker, clientID: id, browser: browser)
        _ = try await authorizePage(broker, clientID: id, browser: browser)
        let cached = await host.fetches
        XCTAssertEqual(cached, 1)
        let stored = try await broker.store.client(id: id)
        XCTAssertNotNil(stored?.expiresAt)
        try await browser.shutdown()
        await host.stop()
        await broker.stop()
    }
}
