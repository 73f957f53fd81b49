import Foundation
import Hummingbird

/// Client authentication on the token and revocation endpoints: `none` for public clients,
/// `client_secret_post` or `client_secret_basic` for confidential ones (either is accepted, as
/// clients switch between them). Secrets are compared as hashes in constant time.
extension AuthorizationServer {
    func authenticateClient(_ request: Request, parameters: OAuthParameters) async throws -> ClientRecord {
        let basic = try basicCredentials(request)
        var failure = OAuthError.invalidClient("client_authentication_failed", "client authentication failed")
        failure.usedBasicAuth = basic != nil
        let bodyID = try parameters.value("client_id")
        let bodySecret = try parameters.value("client_secret", maxLength: 512)
        if basic != nil, bodySecret != nil {
            throw OAuthError.invalidRequest("multiple_client_auth", "use only one client authentication method")
        }
        if let basic, let bodyID, bodyID != basic.id {
            throw OAuthError.invalidRequest("client_id_mismatch", "client_id differs from the authenticated client")
        }
        guard let clientID = basic?.id ?? bodyID else {
            throw OAuthError.invalidRequest("client_id_missing", "client_id is required")
        }
        let client: ClientRecord
        do {
            client = try await clients.storedClient(clientID)
        } catch .unknown {
            throw failure.with(reason: "unknown_client")
        } catch {
            throw OAuthError(.serverError, reason: "store_error", "the request could not be processed")
        }
        let secret = basic?.secret ?? bodySecret
        switch (client.secretHash, secret) {
        case (nil, nil), (nil, ""):
            return client
        case (nil, _?):
            throw failure.with(reason: "public_client_sent_secret")
        case (_?, nil), (_?, ""):
            throw failure.with(reason: "client_secret_missing")
        case (let expected?, let presented?):
            guard ConstantTime.equals(TokenHasher.hash(presented), expected) else { throw failure.with(reason: "client_secret_mismatch") }
            return client
        }
    }

    /// RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`.
    private func basicCredentials(_ request: Request) throws -> (id: String, secret: String)? {
        do {
            return try AuthorizationHeader.basicCredentials(request.headers[values: .authorization])
        } catch {
            var failure = OAuthError.invalidClient("basic_auth_malformed", "malformed HTTP Basic credentials")
            failure.usedBasicAuth = true
            throw failure
        }
    }
}

extension OAuthError {
    func with(reason: String) -> OAuthError {
        var copy = OAuthError(kind, reason: reason, detail)
        copy.usedBasicAuth = usedBasicAuth
        return copy
    }
}
