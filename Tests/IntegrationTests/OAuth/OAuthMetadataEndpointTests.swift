import BrokerKit
import Foundation
import XCTest

/// Discovery documents exactly as MCP clients read them.
final class OAuthMetadataEndpointTests: XCTestCase {
    func testDiscoveryDocuments() async throws {
        let broker = try await OAuthTestBroker.start()
        for path in ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"] {
            let answer = try await broker.get(path)
            XCTAssertEqual(answer.status, 200)
            XCTAssertEqual(answer.headers["cache-control"].first, "public, max-age=3600")
            XCTAssertEqual(answer.json["resource"] as? String, broker.config.mcpResource)
            XCTAssertEqual(answer.json["authorization_servers"] as? [String], [broker.issuer])
            XCTAssertEqual(answer.json["bearer_methods_supported"] as? [String], ["header"])
        }
        for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
            let answer = try await broker.get(path)
            XCTAssertEqual(answer.status, 200)
            XCTAssertEqual(answer.json["issuer"] as? String, broker.issuer)
            XCTAssertEqual(answer.json["code_challenge_methods_supported"] as? [String], ["S256"])
            XCTAssertEqual(answer.json["response_types_supported"] as? [String], ["code"])
            XCTAssertEqual(answer.json["token_endpoint_auth_methods_supported"] as? [String], ["none", "client_secret_post", "client_secret_basic"])
            XCTAssertEqual(answer.json["client_id_metadata_document_supported"] as? Bool, true)
            XCTAssertEqual(answer.json["authorization_response_iss_parameter_supported"] as? Bool, true)
            XCTAssertEqual(answer.json["registration_endpoint"] as? String, broker.issuer + "/oauth/register")
            XCTAssertEqual(answer.json["revocation_endpoint"] as? String, broker.issuer + "/oauth/revoke")
        }
        await broker.stop()
    }

    func testRegistrationIsRateLimitedPerAddress() async throws {
        let broker = try await OAuthTestBroker.start(environment: ["FJMCP_RATE_LIMIT_REGISTER": "2/1h"])
        _ = try await broker.register()
        _ = try await broker.register()
        let limited = try await broker.postJSON("/oauth/register", ["redirect_uris": ["https://a.example/cb"]])
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(limited.error, "rate_limited")
        // One token comes back every 1800 s: Retry-After says so, not a fixed 1.
        XCTAssertEqual(limited.headers["Retry-After"].first.flatMap(Int.init), 1_800)
        await broker.stop()
    }
}
