import Hummingbird

/// RFC 9728 protected resource metadata and RFC 8414 authorization server metadata.
///
/// The AS document is also served at `/.well-known/openid-configuration`: MCP clients since
/// 2025-11-25 must try that path when the RFC 8414 one fails, and some only try it; serving the
/// same document (without claiming OpenID Connect features) costs nothing and avoids a failed
/// discovery. Documents are byte-identical between calls and cacheable for an hour.
extension AuthorizationServer {
    var authorizationServerMetadata: [String: Any] {
        let issuer = config.issuer
        return [
            "issuer": issuer,
            "authorization_endpoint": issuer + "/oauth/authorize",
            "token_endpoint": issuer + "/oauth/token",
            "registration_endpoint": issuer + "/oauth/register",
            "revocation_endpoint": issuer + "/oauth/revoke",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
            "revocation_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
            "scopes_supported": OAuthScope.supported,
            "client_id_metadata_document_supported": true,
            "authorization_response_iss_parameter_supported": true,
        ]
    }

    var protectedResourceMetadata: [String: Any] {
        [
            "resource": config.mcpResource,
            "authorization_servers": [config.issuer],
            "bearer_methods_supported": ["header"],
            "scopes_supported": OAuthScope.supported,
            "resource_name": "Forgejo MCP broker",
        ]
    }

    func addMetadataRoutes(to router: Router<BrokerRequestContext>) {
        let cacheable: HTTPFields = [.cacheControl: "public, max-age=3600", .accessControlAllowOrigin: "*"]
        for path in ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"] {
            router.get(RouterPath(path)) { _, _ in JSONResponse.make(object: self.protectedResourceMetadata, headers: cacheable) }
        }
        for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
            router.get(RouterPath(path)) { _, _ in JSONResponse.make(object: self.authorizationServerMetadata, headers: cacheable) }
        }
    }
}
