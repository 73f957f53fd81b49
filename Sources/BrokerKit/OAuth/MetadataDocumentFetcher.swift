import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Fetches Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document) with the
/// SSRF hardening the MCP guidance asks for: https only, the host's addresses checked against
/// ``AddressPolicy`` before connecting, at most 5 KB, a deadline, and no redirects.
///
/// The shared `HTTPClient` must be configured with `redirectConfiguration: .disallow`; the
/// fetcher also refuses any response that has a redirect in its history, so a misconfigured
/// client fails closed. Residual risk: the name is resolved twice (here and by the client), so a
/// DNS-rebinding host could still switch addresses in between.
public struct MetadataDocumentFetcher: Sendable {
    public static let maxBytes = 5 * 1_024
    public static let minCacheTTL: TimeInterval = 300
    public static let maxCacheTTL: TimeInterval = 86_400
    public static let defaultCacheTTL: TimeInterval = 3_600

    private let httpClient: HTTPClient
    private let resolver: any HostResolver
    /// Tests only: allow private/loopback addresses and plain http on loopback IP literals.
    private let allowPrivate: Bool
    private let timeout: Duration

    public init(httpClient: HTTPClient, resolver: any HostResolver = SystemHostResolver(), allowPrivate: Bool,
                timeout: Duration = .seconds(10)) {
        self.httpClient = httpClient
        self.resolver = resolver
        self.allowPrivate = allowPrivate
        self.timeout = timeout
    }

    /// Whether `clientID` is meant as a metadata document URL (a URL with a path) rather than a
    /// registered client id.
    public static func isDocumentURL(_ clientID: String) -> Bool {
        clientID.hasPrefix("https://") || clientID.hasPrefix("http://")
    }

    public func fetch(_ clientID: String, now: Date) async throws(MetadataDocumentError) -> ClientRecord {
        let host = try validatedHost(clientID)
        try await checkAddresses(of: host)
        var request = HTTPClientRequest(url: clientID)
        request.headers.add(name: "Accept", value: "application/json")
        let (headers, body) = try await download(request)
        let document = try parse(body, clientID: clientID)
        return ClientRecord(
            clientID: clientID, kind: .metadataDocument, secretHash: nil, name: document.name, redirectURIs: document.redirectURIs,
            tokenEndpointAuthMethod: "none", metadataJSON: String(decoding: body, as: UTF8.self), createdAt: now,
            expiresAt: now.addingTimeInterval(Self.cacheTTL(cacheControl: headers["cache-control"].first)))
    }

    /// `max-age` clamped to [5 min, 24 h]: short enough to pick up changes, long enough that a
    /// document host cannot make the broker fetch on every request.
    static func cacheTTL(cacheControl: String?) -> TimeInterval {
        guard let cacheControl else { return defaultCacheTTL }
        let directives = cacheControl.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if directives.contains(where: { $0 == "no-store" || $0 == "no-cache" }) { return minCacheTTL }
        guard let maxAge = directives.first(where: { $0.hasPrefix("max-age=") }).flatMap({ TimeInterval($0.dropFirst(8)) }) else {
            return defaultCacheTTL
        }
        return min(max(maxAge, minCacheTTL), maxCacheTTL)
    }

    private func validatedHost(_ clientID: String) throws(MetadataDocumentError) -> String {
        guard clientID.utf8.count <= 2_048, let components = URLComponents(string: clientID),
              let scheme = components.scheme, let host = components.host, !host.isEmpty,
              components.user == nil, components.password == nil, components.fragment == nil,
              !components.path.isEmpty, components.path != "/",
              !components.path.split(separator: "/").contains(where: { $0 == "." || $0 == ".." })
        else { throw .malformedURL }
        let bareHost = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        switch scheme {
        case "https": return bareHost
        case "http" where allowPrivate && IPAddress(parsing: bareHost).map({ addr in IPRange.loopback.contains { $0.contains(addr) } }) == true:
            return bareHost
        default: throw .notHTTPS
        }
    }

    private func checkAddresses(of host: String) async throws(MetadataDocumentError) {
        if allowPrivate { return }
        let addresses: [IPAddress]
        if let literal = IPAddress(parsing: host) {
            addresses = [literal]
        } else {
            do { addresses = try await resolver.addresses(of: host) } catch { throw .unresolvable }
        }
        guard !addresses.isEmpty else { throw .unresolvable }
        guard addresses.allSatisfy(AddressPolicy.isPublic) else { throw .privateAddress }
    }

    private func download(_ request: HTTPClientRequest) async throws(MetadataDocumentError) -> (HTTPHeaders, [UInt8]) {
        let (seconds, attoseconds) = timeout.components
        let deadline = NIODeadline.now() + .seconds(seconds) + .nanoseconds(attoseconds / 1_000_000_000)
        do {
            let response = try await httpClient.execute(request, deadline: deadline)
            guard response.history.count <= 1, !(300..<400).contains(Int(response.status.code)) else { throw MetadataDocumentError.redirected }
            guard response.status == .ok else { throw MetadataDocumentError.httpStatus(Int(response.status.code)) }
            if let length = response.headers["content-length"].first.flatMap(Int.init), length > Self.maxBytes {
                throw MetadataDocumentError.tooLarge
            }
            let buffer = try await response.body.collect(upTo: Self.maxBytes)
            return (response.headers, Array(buffer.readableBytesView))
        } catch let error as MetadataDocumentError {
            throw error
        } catch is NIOTooManyBytesError {
            throw .tooLarge
        } catch let error as HTTPClientError where [.deadlineExceeded, .readTimeout, .connectTimeout].contains(error) {
            throw .timeout
        } catch {
            throw .unreachable
        }
    }

    private struct Document {
        let name: String
        let redirectURIs: [String]
    }

    private func parse(_ body: [UInt8], clientID: String) throws(MetadataDocumentError) -> Document {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else { throw .invalidJSON }
        guard let documentID = object["client_id"] as? String else { throw .missingField("client_id") }
        guard documentID == clientID else { throw .clientIDMismatch }
        guard let name = object["client_name"] as? String, !name.isEmpty, name.count <= 200 else { throw .missingField("client_name") }
        guard let uris = object["redirect_uris"] as? [String], !uris.isEmpty, uris.count <= RedirectURIPolicy.maxCount else {
            throw .missingField("redirect_uris")
        }
        for uri in uris {
            if let problem = RedirectURIPolicy.problem(with: uri) { throw .invalidRedirectURI(problem) }
        }
        if let method = object["token_endpoint_auth_method"], method as? String != "none" { throw .unsupportedAuthMethod }
        return Document(name: name, redirectURIs: uris)
    }
}
