import Foundation
import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    static let mcpSessionID = Self("Mcp-Session-Id")!
    static let mcpProtocolVersion = Self("MCP-Protocol-Version")!
    static let xAccelBuffering = Self("X-Accel-Buffering")!
}

/// The transport's header rules for `/mcp`: DNS-rebinding protection (Host, Origin) and the
/// content negotiation the Streamable HTTP transport prescribes.
struct MCPRequestPolicy: Sendable {
    let publicURL: PublicURL
    /// `Host` values that match as they are (the public URL's, and with its default port when it
    /// names none), lowercased once rather than on every request.
    private let expectedHosts: [String]

    init(publicURL: PublicURL) {
        self.publicURL = publicURL
        let expected = publicURL.hostHeader.lowercased()
        expectedHosts = publicURL.port == nil ? [expected, expected + (publicURL.isHTTPS ? ":443" : ":80")] : [expected]
    }

    /// A request for another host reached us through DNS rebinding or a misrouted proxy. With a
    /// loopback public URL any loopback name is the same machine, so the port is not compared.
    func checkHost(_ request: Request) throws(MCPRequestError) {
        guard let authority = request.head.authority else {
            throw .hostNotAllowed("")
        }
        if expectedHosts.contains(authority.lowercased()) { return }
        if publicURL.isLoopback, PublicURL.isLoopbackHost(Self.hostPart(of: authority)) { return }
        throw .hostNotAllowed(authority)
    }

    /// Browsers send `Origin`; a page from anywhere but the broker's own origin must not drive
    /// a user's session (MCP 2025-11-25: 403).
    func checkOrigin(_ request: Request) throws(MCPRequestError) {
        guard let origin = request.headers.value(.origin) else { return }
        if origin.lowercased() == publicURL.origin.lowercased() { return }
        if publicURL.isLoopback, let components = URLComponents(string: origin), let host = components.host,
            components.scheme == publicURL.scheme, PublicURL.isLoopbackHost(host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")))
        {
            return
        }
        throw .originNotAllowed(origin)
    }

    func checkContentType(_ request: Request) throws(MCPRequestError) {
        let value = request.headers.value(.contentType)
        // The exact value nearly every client sends needs no parsing.
        if value == "application/json" { return }
        let type = value?.split(separator: ";").first.map { Self.trimmed($0).lowercased() }
        guard type == "application/json" else { throw .unsupportedMediaType }
    }

    /// POST: the client must take both JSON and SSE answers, since the server picks per request.
    /// A missing `Accept` means "anything" (RFC 9110).
    func checkPostAccept(_ request: Request) throws(MCPRequestError) {
        // The exact value the transport spec shows (and most clients send) needs no parsing.
        if request.headers[values: .accept] == ["application/json, text/event-stream"] { return }
        let accept = Self.acceptedTypes(request)
        guard Self.allows(accept, "application/json"), Self.allows(accept, "text/event-stream") else {
            throw .notAcceptable("both application/json and text/event-stream")
        }
    }

    func checkStreamAccept(_ request: Request) throws(MCPRequestError) {
        guard Self.allows(Self.acceptedTypes(request), "text/event-stream") else { throw .notAcceptable("text/event-stream") }
    }

    /// Missing means the negotiated version: the session already knows it (transport spec:
    /// assume 2025-03-26 only when there is no other way to know).
    func checkProtocolVersion(_ request: Request, negotiated: String) throws(MCPRequestError) {
        guard let sent = request.headers.value(.mcpProtocolVersion).map({ Self.trimmed($0[...]) }) else { return }
        guard MCPProtocolVersion.supported.contains(sent) else { throw .unsupportedProtocolVersion(sent) }
        guard sent == negotiated else { throw .protocolVersionMismatch(sent: sent, negotiated: negotiated) }
    }

    static func hostPart(of authority: String) -> String {
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            return String(authority[authority.index(after: authority.startIndex)..<close])
        }
        return String(authority.split(separator: ":", maxSplits: 1).first ?? "")
    }

    /// Media ranges with a non-zero quality, lowercased; nil when the header is absent.
    static func acceptedTypes(_ request: Request) -> [String]? {
        let values = request.headers[values: .accept]
        guard !values.isEmpty else { return nil }
        return values.flatMap { $0.split(separator: ",") }.compactMap { range in
            let parts = range.split(separator: ";").map { trimmed($0).lowercased() }
            guard let type = parts.first, !type.isEmpty else { return nil }
            let refused = parts.dropFirst().contains { $0.replacingOccurrences(of: " ", with: "").range(of: #"^q=0(\.0*)?$"#, options: .regularExpression) != nil }
            return refused ? nil : type
        }
    }

    /// Without spaces and tabs at either end. Every POST passes here; Foundation's
    /// `trimmingCharacters` bridges through NSString, several times the cost.
    static func trimmed(_ text: Substring) -> String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isBlank($0) }), let last = text.lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(text[first...last])
    }

    static func allows(_ accepted: [String]?, _ type: String) -> Bool {
        guard let accepted else { return true }
        let major = type.split(separator: "/").first.map(String.init) ?? type
        return accepted.contains { $0 == type || $0 == "*/*" || $0 == major + "/*" }
    }
}
