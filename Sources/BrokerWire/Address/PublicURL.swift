import Foundation

/// An absolute http(s) base URL as an operator configures it, split into the parts the broker
/// derives issuer, resource, cookie names and Host checks from.
public struct PublicURL: Sendable, Equatable {
    public let scheme: String
    /// Lowercased host; IPv6 literals without brackets.
    public let host: String
    public let port: Int?
    /// Path without a trailing slash; empty for the root.
    public let path: String

    public var isHTTPS: Bool { scheme == "https" }

    /// `scheme://host[:port]`, the form RFC 8414 issuers and `Host` checks compare against.
    public var origin: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(hostPart)" + (port.map { ":\($0)" } ?? "")
    }

    /// The value a client's `Host` header carries for this URL.
    public var hostHeader: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return hostPart + (port.map { ":\($0)" } ?? "")
    }

    public var isLoopback: Bool { Self.isLoopbackHost(host) }

    public struct Problem: Error, Equatable, Sendable {
        public let message: String
    }

    /// - Parameters:
    ///   - allowPath: the broker serves at the root of its host; Forgejo may live under a path.
    ///   - requireTLSOffLoopback: plain http is only acceptable where nobody can listen in.
    public static func parse(_ text: String, allowPath: Bool = false, requireTLSOffLoopback: Bool = true) -> Result<PublicURL, Problem> {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            return .failure(Problem(message: "not an absolute URL"))
        }
        guard scheme == "http" || scheme == "https" else {
            return .failure(Problem(message: "scheme must be http or https"))
        }
        guard let rawHost = components.host, !rawHost.isEmpty else {
            return .failure(Problem(message: "missing host"))
        }
        // A percent-encoded host decodes to characters (controls, `/`, `@`…) that make the URL
        // another one, or none, when it is written out again (found by Fuzz/redirect-uri).
        guard components.percentEncodedHost == rawHost else {
            return .failure(Problem(message: "the host must not be percent-encoded"))
        }
        guard components.query == nil, components.fragment == nil else {
            return .failure(Problem(message: "must not have a query or fragment"))
        }
        guard components.user == nil, components.password == nil else {
            return .failure(Problem(message: "must not contain credentials"))
        }
        var path = components.path
        while path.hasSuffix("/") { path.removeLast() }
        if !allowPath, !path.isEmpty {
            return .failure(Problem(message: "must not have a path; serve the broker at the root of its host"))
        }
        let host = rawHost.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        // `https://[]` has a host part but no host (found by Fuzz/redirect-uri).
        guard !host.isEmpty else { return .failure(Problem(message: "missing host")) }
        if requireTLSOffLoopback, scheme == "http", !isLoopbackHost(host) {
            return .failure(Problem(message: "https is required unless the host is loopback"))
        }
        let port = components.port
        if let port, !(1...65_535).contains(port) {
            return .failure(Problem(message: "port out of range"))
        }
        let defaultPort = scheme == "https" ? 443 : 80
        return .success(PublicURL(scheme: scheme, host: host, port: port == defaultPort ? nil : port, path: path))
    }

    public static func isLoopbackHost(_ host: String) -> Bool {
        let host = host.lowercased()
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        return IPAddress(parsing: host).map { address in IPRange.loopback.contains { $0.contains(address) } } ?? false
    }
}
