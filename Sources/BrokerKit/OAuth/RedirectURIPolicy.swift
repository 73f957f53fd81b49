import Foundation

/// Which redirect URIs a client may register and which requested URI matches a registered one.
/// Matching is exact string comparison (MCP security guidance: no patterns, no normalisation),
/// with the single RFC 8252 §7.3 exception: a native app on an http loopback IP literal may
/// pick any port at run time.
public enum RedirectURIPolicy {
    public static let maxCount = 10
    public static let maxLength = 2_048

    /// Nil when `uri` may be registered, else why not.
    public static func problem(with uri: String) -> String? {
        guard uri.utf8.count <= maxLength else { return "redirect URI longer than \(maxLength) bytes" }
        guard let components = URLComponents(string: uri), let scheme = components.scheme?.lowercased(),
              let host = components.host, !host.isEmpty
        else { return "redirect URI must be an absolute URL with a host" }
        guard components.fragment == nil, !uri.contains("#") else { return "redirect URI must not contain a fragment" }
        guard components.user == nil, components.password == nil else { return "redirect URI must not contain credentials" }
        switch scheme {
        case "https": return nil
        case "http" where PublicURL.isLoopbackHost(host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))): return nil
        default: return "redirect URI must use https, or http on a loopback host"
        }
    }

    public static func matches(requested: String, registered: [String]) -> Bool {
        registered.contains { $0 == requested || isLoopbackPortVariant(requested, of: $0) }
    }

    /// Same URI except the port, on `http://127.0.0.1` or `http://[::1]` only (not `localhost`,
    /// which RFC 8252 §8.3 discourages because it may not resolve to loopback).
    static func isLoopbackPortVariant(_ requested: String, of registered: String) -> Bool {
        guard let a = URLComponents(string: requested), let b = URLComponents(string: registered),
              a.scheme == "http", b.scheme == "http", let host = a.host, host == b.host,
              let address = IPAddress(parsing: host), IPRange.loopback.contains(where: { $0.contains(address) })
        else { return false }
        return a.percentEncodedPath == b.percentEncodedPath && a.percentEncodedQuery == b.percentEncodedQuery
            && a.fragment == nil && b.fragment == nil && a.user == nil && b.user == nil
    }
}
