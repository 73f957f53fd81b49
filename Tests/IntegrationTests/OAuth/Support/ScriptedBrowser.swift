import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// A minimal browser for OAuth flows: never follows redirects by itself, keeps cookies per host
/// (like a real browser, ignoring the port), and fills in the few forms of the flow.
final class ScriptedBrowser: Sendable {
    struct Page: Sendable {
        let status: Int
        let headers: HTTPHeaders
        let body: String
        var location: String? { headers["location"].first }
    }

    struct UnexpectedPage: Error, CustomStringConvertible {
        let page: Page
        let step: String
        var description: String { "unexpected page at \(step): HTTP \(page.status) \(page.body.prefix(400))" }
    }

    let client: HTTPClient
    private let jar = Mutex<[String: [String: String]]>([:])

    init() {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func shutdown() async throws { try await client.shutdown() }

    func get(_ url: String) async throws -> Page {
        try await send(HTTPClientRequest(url: url))
    }

    func post(_ url: String, form: [(String, String)]) async throws -> Page {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: FormEncoding.encode(form)))
        return try await send(request)
    }

    func cookie(_ name: String, host: String = "127.0.0.1") -> String? {
        jar.withLock { $0[host]?[name] }
    }

    func setCookie(_ name: String, value: String?, host: String = "127.0.0.1") {
        jar.withLock { $0[host, default: [:]][name] = value }
    }

    func clearCookies() { jar.withLock { $0.removeAll() } }

    private func send(_ request: HTTPClientRequest) async throws -> Page {
        var request = request
        let host = URLComponents(string: request.url)?.host ?? ""
        let cookies = jar.withLock { $0[host] ?? [:] }
        if !cookies.isEmpty {
            request.headers.add(name: "Cookie", value: cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; "))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        for header in response.headers["set-cookie"] { store(header, host: host) }
        return Page(status: Int(response.status.code), headers: response.headers, body: String(buffer: body))
    }

    private func store(_ header: String, host: String) {
        let parts = header.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let pair = parts.first, let equals = pair.firstIndex(of: "=") else { return }
        let name = String(pair[..<equals])
        let value = String(pair[pair.index(after: equals)...])
        let expired = parts.contains { $0.lowercased() == "max-age=0" } || value.isEmpty
        jar.withLock { $0[host, default: [:]][name] = expired ? nil : value }
    }

    /// Values of `<input type="hidden" name=… value=…>` fields, HTML entities decoded.
    static func hiddenFields(_ html: String) -> [(String, String)] {
        let pattern = #"<input type="hidden" name="([^"]*)" value="([^"]*)">"#
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return [] }
        return regex.matches(in: html, range: NSRange(html.startIndex..., in: html)).compactMap { match in
            guard let name = Range(match.range(at: 1), in: html), let value = Range(match.range(at: 2), in: html) else { return nil }
            return (String(html[name]), unescape(String(html[value])))
        }
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}

enum FormEncoding {
    static func encode(_ fields: [(String, String)]) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
        return fields.map { "\($0.0.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }
            .joined(separator: "&")
    }

    static func query(of url: String) -> [String: String] {
        var result: [String: String] = [:]
        for item in URLComponents(string: url)?.queryItems ?? [] { result[item.name] = item.value ?? "" }
        return result
    }
}
