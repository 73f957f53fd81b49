import Foundation

/// The `AccessTokenForm` after client authentication has been resolved from body and header.
struct TokenRequest: Sendable {
    let grantType: String
    let clientID: String
    let clientSecret: String
    let redirectURI: String
    let code: String
    let refreshToken: String
    let codeVerifier: String

    /// The Basic header is consulted only when the body lacks an id or secret, and values present
    /// in both places must agree; a non-Basic scheme is ignored.
    init(fields: FormFields, authorization: String?) throws(TokenEndpointError) {
        var clientID = fields["client_id"]
        var clientSecret = fields["client_secret"]
        if clientID.isEmpty || clientSecret.isEmpty, let authorization {
            let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.count == 2, parts[0].lowercased() == "basic" {
                guard let decoded = Data(base64Encoded: String(parts[1])).flatMap({ String(data: $0, encoding: .utf8) }),
                    let colon = decoded.firstIndex(of: ":")
                else { throw TokenEndpointError("invalid_request", "cannot parse basic auth header") }
                let headerID = String(decoded[..<colon])
                let headerSecret = String(decoded[decoded.index(after: colon)...])
                if !clientID.isEmpty && clientID != headerID {
                    throw TokenEndpointError(
                        "invalid_request", "client_id in request body inconsistent with Authorization header")
                }
                clientID = headerID
                if !clientSecret.isEmpty && clientSecret != headerSecret {
                    throw TokenEndpointError(
                        "invalid_request", "client_secret in request body inconsistent with Authorization header")
                }
                clientSecret = headerSecret
            }
        }
        self.grantType = fields["grant_type"]
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.redirectURI = fields["redirect_uri"]
        self.code = fields["code"]
        self.refreshToken = fields["refresh_token"]
        self.codeVerifier = fields["code_verifier"]
    }
}
