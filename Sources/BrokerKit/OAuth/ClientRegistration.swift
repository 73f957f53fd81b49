import Foundation

/// RFC 7591 dynamic client registration: validates the submitted metadata and produces the
/// client record plus the response document. Only the secret's hash is kept; the secret itself
/// appears once, in the response.
///
/// Anyone can register, so what a registration stores is bounded: only the fields below are
/// kept (others are dropped), each has a length cap, at most ``RedirectURIPolicy/maxCount``
/// redirect URIs, and the whole stored row at most ``maxStoredBytes``; anything larger is
/// `invalid_client_metadata`.
struct ClientRegistration {
    static let authMethods = ["none", "client_secret_post", "client_secret_basic"]
    static let grantTypes: Set<String> = ["authorization_code", "refresh_token"]
    static let maxNameLength = 200
    static let maxStoredBytes = 8 * 1_024
    /// The informational fields kept, with their caps in bytes.
    static let optionalFields: [(name: String, maxBytes: Int)] = [
        ("client_uri", 512), ("logo_uri", 512), ("application_type", 32), ("software_id", 256), ("software_version", 64),
    ]

    let record: ClientRecord
    let response: [String: Any]

    /// - Parameter redirectHosts: `FJMCP_ALLOWED_REDIRECT_HOSTS`; nil allows any acceptable URI.
    /// - Throws: `invalid_redirect_uri` or `invalid_client_metadata`.
    static func register(json body: [UInt8], now: Date, redirectHosts: ClientHostAllowlist? = nil) throws(OAuthError) -> ClientRegistration {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            throw metadata("body_not_json_object", "the body must be a JSON object")
        }
        let redirectURIs = try redirectURIs(object["redirect_uris"], allowed: redirectHosts)
        let name = try optionalString(object, "client_name", maxLength: maxNameLength) ?? "Unnamed client"
        let method = try optionalString(object, "token_endpoint_auth_method", maxLength: 64) ?? "client_secret_basic"
        guard authMethods.contains(method) else {
            throw metadata("unsupported_auth_method", "token_endpoint_auth_method must be one of \(authMethods.joined(separator: ", "))")
        }
        // RFC 7591 defaults an omitted list to authorization_code alone, but MCP clients that omit
        // it still expect to refresh; the response states the grants so the client knows.
        let requestedGrants = try stringList(object, "grant_types") ?? ["authorization_code", "refresh_token"]
        guard !requestedGrants.isEmpty, Set(requestedGrants).isSubset(of: grantTypes) else {
            throw metadata("unsupported_grant_type", "grant_types may only contain authorization_code and refresh_token")
        }
        // Stored once each, in a fixed order, however often they were repeated.
        let grants = ["authorization_code", "refresh_token"].filter(requestedGrants.contains)
        let responseTypes = try stringList(object, "response_types") ?? ["code"]
        guard Set(responseTypes) == ["code"] else { throw metadata("unsupported_response_type", "response_types may only contain code") }

        let clientID = OpaqueToken.generate(.clientID, bytes: 16)
        let secret = method == "none" ? nil : OpaqueToken.generate(.clientSecret)
        let issuedAt = Int(now.timeIntervalSince1970)
        var registered: [String: Any] = [
            "client_id": clientID, "client_id_issued_at": issuedAt, "client_name": name, "redirect_uris": redirectURIs,
            "token_endpoint_auth_method": method, "grant_types": grants, "response_types": ["code"],
        ]
        for (field, maxBytes) in optionalFields {
            if let value = try optionalString(object, field, maxLength: maxBytes) { registered[field] = value }
        }
        let stored = (try? JSONSerialization.data(withJSONObject: registered, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        let record = ClientRecord(
            clientID: clientID, kind: .dynamic, secretHash: secret.map(TokenHasher.hash), name: name, redirectURIs: redirectURIs,
            tokenEndpointAuthMethod: method, metadataJSON: String(decoding: stored, as: UTF8.self), createdAt: now)
        guard record.storedBytes <= maxStoredBytes else {
            throw metadata("registration_too_large", "the registration would take more than \(maxStoredBytes) bytes; use fewer or shorter values")
        }
        var response = registered
        if let secret {
            response["client_secret"] = secret
            response["client_secret_expires_at"] = 0
        }
        return ClientRegistration(record: record, response: response)
    }

    private static func redirectURIs(_ value: Any?, allowed: ClientHostAllowlist?) throws(OAuthError) -> [String] {
        guard let list = value as? [Any], !list.isEmpty else {
            throw OAuthError(.invalidRedirectURI, reason: "redirect_uris_missing", "redirect_uris must be a non-empty array")
        }
        guard list.count <= RedirectURIPolicy.maxCount else {
            throw OAuthError(.invalidRedirectURI, reason: "too_many_redirect_uris", "at most \(RedirectURIPolicy.maxCount) redirect URIs")
        }
        var uris: [String] = []
        for item in list {
            guard let uri = item as? String else {
                throw OAuthError(.invalidRedirectURI, reason: "redirect_uri_not_string", "redirect URIs must be strings")
            }
            if let problem = RedirectURIPolicy.problem(with: uri) {
                throw OAuthError(.invalidRedirectURI, reason: "redirect_uri_rejected", problem)
            }
            if let allowed, !allowed.permits(uri) {
                throw OAuthError(.invalidRedirectURI, reason: "redirect_uri_not_allowed",
                                 "redirect URIs on \(ClientHostAllowlist.describe(uri)) are not allowed by this server")
            }
            uris.append(uri)
        }
        return uris
    }

    private static func optionalString(_ object: [String: Any], _ key: String, maxLength: Int) throws(OAuthError) -> String? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let text = value as? String else { throw metadata("field_not_string", "\(key) must be a string") }
        guard text.utf8.count <= maxLength else { throw metadata("field_too_long", "\(key) is longer than \(maxLength) bytes") }
        try rejectNUL(text, key)
        return text
    }

    private static func stringList(_ object: [String: Any], _ key: String) throws(OAuthError) -> [String]? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let list = value as? [String] else { throw metadata("field_not_string_array", "\(key) must be an array of strings") }
        for item in list { try rejectNUL(item, key) }
        return list
    }

    /// JSON can carry `\u0000`, which no metadata value needs and PostgreSQL cannot store.
    private static func rejectNUL(_ text: String, _ key: String) throws(OAuthError) {
        guard !text.utf8.contains(0) else { throw metadata("field_contains_nul", "\(key) must not contain NUL characters") }
    }

    private static func metadata(_ reason: String, _ detail: String) -> OAuthError {
        OAuthError(.invalidClientMetadata, reason: reason, detail)
    }
}

extension ClientRecord {
    /// Bytes the client's row takes in the store (its text columns plus the two timestamps).
    var storedBytes: Int {
        [clientID, kind.rawValue, secretHash ?? "", name, redirectURIsJSON, tokenEndpointAuthMethod, metadataJSON]
            .reduce(16) { $0 + $1.utf8.count }
    }

    /// Whether refresh tokens may be issued to this client: only a `grant_types` list that
    /// leaves out `refresh_token` says no. Metadata documents and older registrations without
    /// the list keep refreshing, so nobody is logged out hourly by an omission.
    var allowsRefreshTokenGrant: Bool {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(metadataJSON.utf8))) as? [String: Any],
            let grants = object["grant_types"] as? [String]
        else { return true }
        return grants.contains("refresh_token")
    }
}
