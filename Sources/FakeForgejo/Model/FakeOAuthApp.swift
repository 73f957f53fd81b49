import Foundation

/// A registered OAuth2 application.
struct FakeOAuthApp: Sendable {
    let id: Int
    let name: String
    let clientID: String
    let clientSecret: String
    let redirectURIs: [String]
    let confidential: Bool

    /// Forgejo's `ContainsRedirectURI` (forgejo-notes A3): case-insensitive exact match after
    /// trimming one trailing slash; public clients alone get RFC 8252 loopback port leniency.
    func containsRedirectURI(_ candidate: String) -> Bool {
        var wanted = candidate
        if !confidential, let stripped = Self.strippingLoopbackPort(candidate) {
            wanted = stripped
        }
        let normalizedWanted = Self.normalize(wanted)
        return redirectURIs.contains { Self.normalize($0) == normalizedWanted }
    }

    private static func normalize(_ uri: String) -> String {
        let lower = uri.lowercased()
        return lower.hasSuffix("/") ? String(lower.dropLast()) : lower
    }

    /// Only `http` with an explicit port and a loopback IP literal (not the name `localhost`).
    private static func strippingLoopbackPort(_ uri: String) -> String? {
        guard var components = URLComponents(string: uri),
            components.scheme?.lowercased() == "http",
            components.port != nil,
            let host = components.host
        else { return nil }
        let bareHost = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard bareHost == "127.0.0.1" || bareHost == "::1" else { return nil }
        components.port = nil
        return components.string
    }
}
