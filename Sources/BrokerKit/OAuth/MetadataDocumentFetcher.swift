import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// Fetches Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document) with the
/// SSRF hardening the MCP guidance asks for: https only, port 443 only (unless configured), the
/// host's addresses checked against ``AddressPolicy`` before connecting, at most 5 KB, no
/// redirects, and ONE deadline over the whole fetch: resolution, connection, head and body.
///
/// The name is resolved once and the connection pinned to the address that was checked (TLS
/// still verifies the certificate against the name), so a DNS-rebinding host cannot answer the
/// check with a public address and the connection with a private one. AsyncHTTPClient pins only
/// per client (`dnsOverride`), so each fetch has its own `HTTPClient`; it is shut down on every
/// path, which the deadline guarantees is reached, and ``MetadataDocumentFlights`` bounds how
/// many exist at once.
public struct MetadataDocumentFetcher: Sendable {
    public static let maxBytes = 5 * 1_024
    public static let minCacheTTL: TimeInterval = 300
    public static let maxCacheTTL: TimeInterval = 86_400
    public static let defaultCacheTTL: TimeInterval = 3_600

    private let resolver: any HostResolver
    /// Tests only: allow private/loopback addresses, and plain http to a host that resolves to loopback.
    private let allowPrivate: Bool
    /// Ports a document URL may name; nil allows any. A URL without a port means 443.
    private let allowedPorts: Set<Int>?
    let timeout: Duration

    public init(resolver: any HostResolver = SystemHostResolver(), allowPrivate: Bool, allowedPorts: Set<Int>? = [443],
                timeout: Duration = .seconds(10)) {
        self.resolver = resolver
        self.allowPrivate = allowPrivate
        self.allowedPorts = allowedPorts
        self.timeout = timeout
    }

    /// Whether `clientID` is meant as a metadata document URL (a URL with a path) rather than a
    /// registered client id.
    public static func isDocumentURL(_ clientID: String) -> Bool {
        clientID.hasPrefix("https://") || clientID.hasPrefix("http://")
    }

    public func fetch(_ clientID: String, now: Date) async throws(MetadataDocumentError) -> ClientRecord {
        let deadline = ContinuousClock.now + timeout
        let (scheme, host) = try validatedTarget(clientID)
        let address = try await checkedAddress(of: host, until: deadline)
        if scheme == "http", !(allowPrivate && IPRange.loopback.contains { $0.contains(address) }) { throw .notHTTPS }
        var request = HTTPClientRequest(url: clientID)
        request.headers.add(name: "Accept", value: "application/json")
        let (headers, body) = try await download(request, pinning: host, to: address, until: deadline)
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

    private func validatedTarget(_ clientID: String) throws(MetadataDocumentError) -> (scheme: String, host: String) {
        guard clientID.utf8.count <= 2_048, let components = URLComponents(string: clientID),
              let scheme = components.scheme, let host = components.host, !host.isEmpty,
              components.user == nil, components.password == nil, components.fragment == nil,
              !components.path.isEmpty, components.path != "/",
              !components.path.split(separator: "/").contains(where: { $0 == "." || $0 == ".." })
        else { throw .malformedURL }
        guard scheme == "https" || (scheme == "http" && allowPrivate) else { throw .notHTTPS }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        if let allowedPorts, !allowedPorts.contains(port) { throw .portNotAllowed }
        return (scheme, host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")))
    }

    /// The one address the fetch will connect to. Every address of the name must be public: a
    /// name with one private address among public ones is as good as private. A resolver that
    /// does not answer by the deadline is a timeout (its thread finishes on its own).
    private func checkedAddress(of host: String, until deadline: ContinuousClock.Instant) async throws(MetadataDocumentError) -> IPAddress {
        let addresses: [IPAddress]
        if let literal = IPAddress(parsing: host) {
            addresses = [literal]
        } else {
            let resolver = self.resolver
            let resolved = await race(until: deadline) { () async -> [IPAddress]? in try? await resolver.addresses(of: host) }
            guard let resolved else { throw .timeout }
            guard let resolved else { throw .unresolvable }
            addresses = resolved
        }
        guard let first = addresses.first else { throw .unresolvable }
        guard allowPrivate || addresses.allSatisfy(AddressPolicy.isPublic) else { throw .privateAddress }
        return first
    }

    private func download(_ request: HTTPClientRequest, pinning host: String, to address: IPAddress,
                          until deadline: ContinuousClock.Instant) async throws(MetadataDocumentError) -> (HTTPHeaders, [UInt8]) {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.dnsOverride = [host: address.text]
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let result = await download(request, with: client, within: deadline - ContinuousClock.now)
        try? await client.shutdown()
        return try result.get()
    }

    private func download(_ request: HTTPClientRequest, with client: HTTPClient, within timeout: Duration)
        async -> Result<(HTTPHeaders, [UInt8]), MetadataDocumentError> {
        guard timeout > .zero else { return .failure(.timeout) }
        do {
            let (response, body) = try await client.boundedExchange(request, timeout: timeout, maxBytes: Self.maxBytes) { response in
                guard response.history.count <= 1, !(300..<400).contains(Int(response.status.code)) else {
                    throw MetadataDocumentError.redirected
                }
                guard response.status == .ok else { throw MetadataDocumentError.httpStatus(Int(response.status.code)) }
                if let length = response.headers["content-length"].first.flatMap(Int.init), length > Self.maxBytes {
                    throw MetadataDocumentError.tooLarge
                }
            }
            return .success((response.headers, Array(body.readableBytesView)))
        } catch let error as MetadataDocumentError {
            return .failure(error)
        } catch is NIOTooManyBytesError {
            return .failure(.tooLarge)
        } catch let error as HTTPClientError where [.deadlineExceeded, .readTimeout, .connectTimeout].contains(error) {
            return .failure(.timeout)
        } catch {
            return .failure(.unreachable)
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
        // A NUL is no name (and PostgreSQL cannot store it).
        guard let name = object["client_name"] as? String, !name.isEmpty, name.count <= 200, !name.utf8.contains(0) else {
            throw .missingField("client_name")
        }
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
