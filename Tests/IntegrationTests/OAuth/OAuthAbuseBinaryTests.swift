import AsyncHTTPClient
import BrokerKit
import Foundation
import NIOCore
import NIOHTTP1
import XCTest

/// Issue 15's "done when" for the OAuth surface, against the built `fjmcp-broker serve` over
/// real loopback HTTP: stalled metadata documents and rotating-IPv6 registration floods leave
/// the broker where it was.
final class OAuthAbuseBinaryTests: XCTestCase {
    private var directory = ""
    private var client: HTTPClient!

    override func setUp() async throws {
        directory = NSTemporaryDirectory() + "fjmcp-abuse-" + UUID().uuidString
        client = Self.makeClient()
    }

    private static func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 32
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    override func tearDown() async throws {
        try? await client?.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func startBroker(_ settings: [String: String]) async throws -> (ProductProcess, String) {
        let environment = [
            "FJMCP_PUBLIC_URL": "http://127.0.0.1:8080", "FJMCP_LISTEN": "127.0.0.1:0", "FJMCP_DATA_DIR": directory + "/data",
            "FORGEJO_URL": "http://127.0.0.1:1", "FORGEJO_CLIENT_ID": "id", "FORGEJO_CLIENT_SECRET": "secret",
            "FJMCP_LOG_LEVEL": "notice",
        ].merging(settings) { _, new in new }
        let broker = try ProductProcess("fjmcp-broker", arguments: ["serve"], environment: environment)
        let port = try await broker.waitFor("the listening line") { ServeBinaryTests.listeningPort(in: $0.stderr) }
        return (broker, "http://127.0.0.1:\(port)")
    }

    private static func get(_ url: String, with client: HTTPClient) async throws -> (status: Int, body: String) {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    private static func authorizeURL(_ base: String, clientID: String) -> String {
        var components = URLComponents(string: base + "/oauth/authorize")!
        components.queryItems = [
            URLQueryItem(name: "response_type", value: "code"), URLQueryItem(name: "client_id", value: clientID),
            URLQueryItem(name: "redirect_uri", value: "http://127.0.0.1:7777/cb"),
            URLQueryItem(name: "code_challenge", value: String(repeating: "a", count: 43)),
            URLQueryItem(name: "code_challenge_method", value: "S256"),
        ]
        return components.string!
    }

    /// File descriptors the process holds, and how many of them are sockets.
    private static func descriptors(of pid: Int32) -> (all: Int, sockets: Int) {
        let targets = descriptorTargets(of: pid)
        return (targets.count, targets.filter { $0.hasPrefix("socket:") }.count)
    }

    private static func descriptorTargets(of pid: Int32) -> [String] {
        let directory = "/proc/\(pid)/fd"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return entries.map { (try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/" + $0)) ?? "?" }
    }

    /// `/oauth/authorize` for each index's stalled document, 32 at a time; counts by status.
    private static func attempts(_ indices: Range<Int>, base: String, host: DocumentHost, client: HTTPClient) async throws -> [Int: Int] {
        try await withThrowingTaskGroup(of: Int.self) { group in
            var statuses: [Int: Int] = [:]
            for index in indices {
                if index - indices.lowerBound >= 32, let status = try await group.next() { statuses[status, default: 0] += 1 }
                group.addTask { try await get(authorizeURL(base, clientID: host.url("/stall/\(index).json")), with: client).status }
            }
            for try await status in group { statuses[status, default: 0] += 1 }
            return statuses
        }
    }

    /// A host that sends headers and then stalls the body: the browser gets the error page within
    /// the fetch deadline, and after 1,000 such attempts on distinct URLs (authorize rate limit
    /// off for the test) the broker's descriptors and sockets are back at their baseline within 15 s.
    func testStalledMetadataBodiesLeaveNothingBehind() async throws {
        let host = try await DocumentHost.start()
        let (broker, base) = try await startBroker([
            "FJMCP_CIMD_ALLOW_PRIVATE": "true", "FJMCP_CIMD_PORTS": "any", "FJMCP_CIMD_FETCH_TIMEOUT": "2s",
            "FJMCP_RATE_LIMIT_AUTHORIZE": "off",
        ])
        let pid = broker.process.processIdentifier

        let started = ContinuousClock.now
        let first = try await Self.get(Self.authorizeURL(base, clientID: host.url("/stall/first.json")), with: client)
        let elapsed = ContinuousClock.now - started
        XCTAssertEqual(first.status, 400)
        XCTAssertTrue(first.body.contains("metadata document could not be used"), first.body)
        XCTAssertTrue(first.body.contains("cimd_unusable") && !first.body.contains("cimd_timeout"), first.body)
        XCTAssertLessThan(elapsed, .seconds(4), "the error page comes at the 2 s deadline")
        // The baseline: a first concurrent round has run (the store's reader pool and the event
        // loops have grown to their working size), its fetches have ended, and the test's own
        // connections are closed.
        _ = try await Self.attempts(0..<64, base: base, host: host, client: client)
        try await client.shutdown()
        client = Self.makeClient()
        try await Task.sleep(for: .seconds(3))
        let baseline = Self.descriptors(of: pid)
        let baselineTargets = Self.descriptorTargets(of: pid)

        let reachedBefore = await host.stalledResponses
        let statuses = try await Self.attempts(1_000..<2_000, base: base, host: host, client: client)
        XCTAssertEqual(statuses, [400: 1_000])
        let reached = await host.stalledResponses - reachedBefore
        let during = Self.descriptors(of: pid)
        try await client.shutdown()
        client = nil

        let settleBy = ContinuousClock.now + .seconds(15)
        var now = Self.descriptors(of: pid)
        while (now.all > baseline.all || now.sockets > baseline.sockets) && ContinuousClock.now < settleBy {
            try await Task.sleep(for: .milliseconds(200))
            now = Self.descriptors(of: pid)
        }
        print("stalled fetches reaching the host: \(reached); descriptors baseline \(baseline), during \(during), after \(now)")
        var extra = Self.descriptorTargets(of: pid)
        for target in baselineTargets { if let index = extra.firstIndex(of: target) { extra.remove(at: index) } }
        print("new descriptors:", extra.map { $0.hasPrefix("socket:") ? "socket" : $0 })
        XCTAssertLessThanOrEqual(now.all, baseline.all, "descriptors back at baseline within 15 s")
        XCTAssertLessThanOrEqual(now.sockets, baseline.sockets, "sockets back at baseline within 15 s")
        XCTAssertGreaterThan(reached, 1, "the host was really stalling fetches")

        broker.signal(SIGTERM)
        let status = await broker.waitForExit(timeout: .seconds(10))
        XCTAssertEqual(status, 0, broker.stderr)
        await host.stop()
    }

    /// 10,000 registrations from rotating addresses of one IPv6 /64 (behind the trusted loopback
    /// proxy) get the burst and then 429 with a Retry-After; another /64 is unaffected; what each
    /// registration stores is at most 8 KB.
    func testRegistrationsFromOneIPv6Slash64AreRefusedAfterTheBurst() async throws {
        let (broker, base) = try await startBroker([:])
        let longest = (0..<10).map { "https://app.example/" + String(repeating: "p", count: 150) + "/\($0)" }
        let body = try JSONSerialization.data(withJSONObject: [
            "redirect_uris": longest, "client_name": String(repeating: "n", count: 200), "token_endpoint_auth_method": "client_secret_post",
            "client_uri": "https://app.example/" + String(repeating: "u", count: 400), "software_id": String(repeating: "s", count: 256),
            "junk": String(repeating: "j", count: 50_000),
        ])
        let client = self.client!
        @Sendable func register(from address: String) async throws -> (status: Int, retryAfter: Int?, clientID: String?) {
            var request = HTTPClientRequest(url: base + "/oauth/register")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "X-Forwarded-For", value: address)
            request.body = .bytes(ByteBuffer(bytes: body))
            let response = try await client.execute(request, timeout: .seconds(30))
            let answer = try await response.body.collect(upTo: 1 << 20)
            let json = (try? JSONSerialization.jsonObject(with: Data(buffer: answer))) as? [String: Any]
            return (Int(response.status.code), response.headers["Retry-After"].first.flatMap(Int.init), json?["client_id"] as? String)
        }

        let started = ContinuousClock.now
        let results = try await withThrowingTaskGroup(of: (Int, Int?, String?).self) { group in
            var results: [(Int, Int?, String?)] = []
            for index in 0..<10_000 {
                if index >= 48, let result = try await group.next() { results.append(result) }
                let address = "2001:db8:77:1:\(String(index >> 16, radix: 16)):\(String(index & 0xFFFF, radix: 16)):\(String(UInt16.random(in: 0...UInt16.max), radix: 16)):1"
                group.addTask { try await register(from: address) }
            }
            for try await result in group { results.append(result) }
            return results
        }
        let elapsed = ContinuousClock.now - started
        let accepted = results.filter { $0.0 == 201 }
        let refused = results.filter { $0.0 == 429 }
        print("10,000 registrations from one /64 in \(elapsed): \(accepted.count) accepted, \(refused.count) refused")
        XCTAssertEqual(accepted.count + refused.count, 10_000)
        // Burst of 20, refilling 0.5/s while the flood runs.
        XCTAssertGreaterThanOrEqual(accepted.count, 20)
        XCTAssertLessThanOrEqual(Double(accepted.count), 21 + elapsed.seconds * 0.5)
        XCTAssertTrue(refused.allSatisfy { ($0.1 ?? 0) >= 1 && ($0.1 ?? 0) <= 2 }, "Retry-After is the time to the next token")

        XCTAssertLessThan(broker.stderr.components(separatedBy: "rate_limited").count, 10,
                          "a flood answered 429 is counted, not logged line by line")
        let other = try await register(from: "2001:db8:77:2::1")
        XCTAssertEqual(other.status, 201, "another /64 has its own bucket")

        broker.signal(SIGTERM)
        _ = await broker.waitForExit(timeout: .seconds(10))
        let store = try SQLiteStore(path: directory + "/data/broker.sqlite")
        for clientID in accepted.compactMap(\.2).prefix(5) + [other.clientID].compactMap({ $0 }) {
            let found = try await store.client(id: clientID)
            let record = try XCTUnwrap(found)
            let uris = String(decoding: try JSONEncoder().encode(record.redirectURIs), as: UTF8.self)
            let stored = [record.clientID, record.kind.rawValue, record.secretHash ?? "", record.name, uris,
                          record.tokenEndpointAuthMethod, record.metadataJSON].reduce(16) { $0 + $1.utf8.count }
            XCTAssertLessThanOrEqual(stored, 8 * 1_024)
            XCTAssertFalse(record.metadataJSON.contains("junk"))
        }
        try store.close()
    }
}

extension Duration {
    fileprivate var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
