import Foundation

/// RFC 8707 resource indicators. Clients are told to send the canonical MCP URL; the MCP
/// authorization notes ask servers to accept an uppercase scheme/host and a trailing slash, so
/// exactly those two differences are tolerated and nothing else.
enum ResourceIndicator {
    static func matches(_ value: String, resource: String) -> Bool {
        canonical(value) == canonical(resource)
    }

    private static func canonical(_ value: String) -> String? {
        guard var components = URLComponents(string: value), components.fragment == nil,
              let scheme = components.scheme, let host = components.host
        else { return nil }
        components.scheme = scheme.lowercased()
        components.host = host.lowercased()
        if components.percentEncodedPath.hasSuffix("/") { components.percentEncodedPath.removeLast() }
        if (components.scheme == "https" && components.port == 443) || (components.scheme == "http" && components.port == 80) {
            components.port = nil
        }
        return components.string
    }
}
