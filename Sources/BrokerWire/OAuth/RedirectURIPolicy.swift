import Foundation

/// Which redirect URIs a client may register and which requested URI matches a registered one.
/// Matching is exact string comparison (MCP security guidance: no patterns, no normalisation),
/// with the single RFC 8252 §7.3 exception: a native app on an http loopback IP literal may
/// pick any port at run time.
///
/// Accepted: `https` anywhere, `http` on a loopback host, and a native app's private-use URI
/// scheme (RFC 8252 §7.1, `cursor://callback`, `com.example.app:/cb`). Schemes a browser would
/// execute or read locally (`javascript:`, `data:`, `file:`, …) and plain `http` to a remote host
/// are refused: a code sent there runs script or crosses the network in the clear.
public enum RedirectURIPolicy {
    public static let maxCount = 10
    public static let maxLength = 2_048
    /// Schemes that are not a native app's: they execute, read local or in-browser data, or are
    /// other network protocols whose traffic a code must not take.
    static let forbiddenSchemes: Set<String> = [
        "javascript", "data", "file", "vbscript", "blob", "about", "filesystem", "view-source", "ftp", "ws", "wss", "mailto", "tel",
    ]

    /// Nil when `uri` may be registered, else why not.
    public static func problem(with uri: String) -> String? {
        guard uri.utf8.count <= maxLength else { return "redirect URI longer than \(maxLength) bytes" }
        // RFC 3986 has no spaces or control characters (URLComponents lets a NUL through, which
        // PostgreSQL then cannot store).
        guard !uri.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            return "redirect URI must not contain spaces or control characters"
        }
        guard let components = URLComponents(string: uri), let scheme = components.scheme?.lowercased()
        else { return "redirect URI must be an absolute URL" }
        guard components.fragment == nil, !uri.contains("#") else { return "redirect URI must not contain a fragment" }
        guard components.user == nil, components.password == nil else { return "redirect URI must not contain credentials" }
        let host = components.host ?? ""
        switch scheme {
        case "https":
            return host.isEmpty ? "redirect URI must have a host" : nil
        case "http":
            guard !host.isEmpty, PublicURL.isLoopbackHost(bare(host)) else {
                return "redirect URI must use https, http on a loopback host, or a native app's private-use scheme"
            }
            return nil
        case _ where forbiddenSchemes.contains(scheme):
            return "redirect URI scheme '\(scheme):' is not allowed"
        default:
            // RFC 8252 §7.1: `scheme:/path` or `scheme://host/path`; something must follow the colon.
            guard uri.utf8.count > scheme.utf8.count + 1 else { return "redirect URI with a private-use scheme needs a path" }
            return nil
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

    /// A host without the brackets of an IPv6 literal.
    static func bare(_ host: String) -> String {
        host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
    }
}

/// The operator's list of where clients may live (`FJMCP_ALLOWED_REDIRECT_HOSTS`,
/// `FJMCP_ALLOWED_CLIENT_ID_HOSTS`): host names compared exactly (case-insensitively), `localhost`
/// standing for every loopback host (`127.0.0.1`, `[::1]`, `*.localhost`, where native apps
/// listen), and `scheme:` entries for native apps' private-use schemes. Unset means no
/// restriction beyond ``RedirectURIPolicy``.
public struct ClientHostAllowlist: Sendable, Equatable {
    public private(set) var hosts: Set<String> = []
    public private(set) var schemes: Set<String> = []

    /// Why an entry of the setting cannot be used.
    public struct EntryProblem: Error, Equatable, Sendable {
        public let entry: String
        public let message: String
    }

    /// Parses a comma-separated list; `allowSchemes` is false for client id hosts (metadata
    /// documents are always https).
    public init(configValue text: String, allowSchemes: Bool) throws(EntryProblem) {
        for entry in CommaSeparated.entries(text).map({ $0.lowercased() }) {
            if entry.hasSuffix(":") {
                let scheme = String(entry.dropLast())
                guard allowSchemes else { throw EntryProblem(entry: entry, message: "only host names are allowed here") }
                guard Self.isSchemeName(scheme), !["http", "https"].contains(scheme),
                      !RedirectURIPolicy.forbiddenSchemes.contains(scheme)
                else { throw EntryProblem(entry: entry, message: "not a private-use URI scheme (write e.g. cursor: or com.example.app:)") }
                schemes.insert(scheme)
            } else {
                guard Self.isHostName(entry) else {
                    throw EntryProblem(entry: entry, message: "not a host name (write e.g. claude.ai, without scheme, port or path)")
                }
                hosts.insert(RedirectURIPolicy.bare(entry))
            }
        }
    }

    public var isEmpty: Bool { hosts.isEmpty && schemes.isEmpty }

    /// Whether `uri`'s host (http/https) or private-use scheme is listed.
    public func permits(_ uri: String) -> Bool {
        guard let components = URLComponents(string: uri), let scheme = components.scheme?.lowercased() else { return false }
        guard scheme == "http" || scheme == "https" else { return schemes.contains(scheme) }
        return permitsHost(components.host ?? "")
    }

    public func permitsHost(_ host: String) -> Bool {
        let host = RedirectURIPolicy.bare(host.lowercased())
        guard !host.isEmpty else { return false }
        return hosts.contains(host) || (hosts.contains("localhost") && PublicURL.isLoopbackHost(host))
    }

    /// What a refusal names: the host, or the scheme of a private-use URI.
    public static func describe(_ uri: String) -> String {
        guard let components = URLComponents(string: uri), let scheme = components.scheme?.lowercased() else { return "?" }
        guard scheme == "http" || scheme == "https" else { return scheme + ":" }
        return components.host ?? "?"
    }

    private static func isSchemeName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || "+-.".unicodeScalars.contains($0) }
    }

    /// A DNS name or an IP literal (IPv6 with or without brackets); no scheme, port, path or wildcard.
    private static func isHostName(_ text: String) -> Bool {
        let bare = RedirectURIPolicy.bare(text)
        if IPAddress(parsing: bare) != nil { return true }
        guard !bare.isEmpty, bare.utf8.count <= 253, !bare.hasPrefix("."), !bare.hasSuffix("."), !bare.contains("..") else { return false }
        return bare.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "." }
    }
}
