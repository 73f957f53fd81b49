/// A misbehaviour the fake shows on the next request(s) to one endpoint family.
///
/// Stable names (also the `kind` values of `POST /_fake/faults`):
/// `server_error` (500 text body), `html` (200 `text/html` garbage), `no_refresh_token`
/// (a normal token response minus `refresh_token`; token endpoint only), `hang` (wait
/// `milliseconds`, then answer normally), `close` (drop the connection without a complete response).
public enum FakeFault: Sendable, Equatable {
    case serverError
    case htmlGarbage
    case omitRefreshToken
    case hang(milliseconds: Int)
    case closeConnection

    public init?(kind: String, milliseconds: Int = 0) {
        switch kind {
        case "server_error": self = .serverError
        case "html": self = .htmlGarbage
        case "no_refresh_token": self = .omitRefreshToken
        case "hang": self = .hang(milliseconds: milliseconds)
        case "close": self = .closeConnection
        default: return nil
        }
    }
}

/// Which endpoints a fault applies to: `token` = `/login/oauth/access_token`, `api` = `/api/v1/...`.
public enum FakeFaultTarget: String, Sendable, Codable, CaseIterable {
    case token
    case api
}
