import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension HTTPField.Name {
    /// `v1.<sender replica id>.<unix ms>.<base64url HMAC>` on a request one replica forwards to
    /// another (see `ReplicaHopSignature`).
    static let replicaHop = Self("Fjmcp-Replica-Hop")!
    /// The address the forwarded request came from, as the forwarding replica resolved it;
    /// believed only together with a valid `Fjmcp-Replica-Hop`, which covers it.
    static let replicaClient = Self("Fjmcp-Replica-Client")!
}

/// What a hop signature covers: everything the receiving replica acts on that could be swapped
/// in transit or in a replay of a captured hop (within the window) — the replica it is meant
/// for (a captured hop cannot be played to another one), method, Host as the client sent it,
/// path with query, `Mcp-Session-Id`, every header the hop forwards (Authorization,
/// MCP-Protocol-Version, `Mcp-Method`/`Mcp-Param-*`, Accept, Last-Event-ID, Origin,
/// Content-Type; their SHA-256), the body (its SHA-256) and the client address the receiver
/// then logs and counts instead of the forwarding replica's.
struct ReplicaHopFacts: Sendable, Equatable {
    var target: String
    var method: String
    var authority: String
    var path: String
    var sessionID: String?
    var headersDigest: [UInt8]
    var bodyDigest: [UInt8]
    var clientAddress: String

    /// `target`: the receiving replica's id. `headers`: the request's, of which those the hop
    /// forwards count (`ReplicaForwarder.forwards`), in any order.
    init(target: String, method: String, authority: String, path: String, sessionID: String?, headers: HTTPFields, body: ByteBuffer,
         clientAddress: String) {
        self.target = target
        self.method = method
        self.authority = authority
        self.path = path
        self.sessionID = sessionID
        // One "name:value" per line, sorted: names hold no colon, values no line break.
        let lines = headers.filter { ReplicaForwarder.forwards($0.name) }.map { $0.name.canonicalName + ":" + $0.value }.sorted()
        self.headersDigest = Array(SHA256.hash(data: Array(lines.joined(separator: "\n").utf8)))
        self.bodyDigest = body.withUnsafeReadableBytes { Array(SHA256.hash(data: $0)) }
        self.clientAddress = clientAddress
    }

    /// The facts of `request` (whose body is `body`) as it arrived from `clientAddress`, for
    /// replica `target`.
    init(_ request: Request, body: ByteBuffer, clientAddress: String, target: String) {
        self.init(target: target, method: request.method.rawValue, authority: request.head.authority ?? "", path: request.head.path ?? "",
                  sessionID: request.headers[.mcpSessionID], headers: request.headers, body: body, clientAddress: clientAddress)
    }
}

/// Why a `Fjmcp-Replica-Hop` header was refused. The receiver answers 403 to all of them; the
/// case goes to the log (never the header's value).
enum ReplicaHopError: Error, Equatable, CustomStringConvertible {
    /// Not four dot-separated parts, an empty sender, a timestamp or MAC that does not decode.
    case malformed
    /// A version this broker does not speak (a newer replica during a rolling upgrade).
    case unsupportedVersion(String)
    /// Signed more than the window away from this replica's clock: a replay, or clocks apart.
    case outsideWindow(skewMilliseconds: Int64)
    /// The MAC does not match: another key, or any covered fact differs.
    case badSignature

    var description: String {
        switch self {
        case .malformed: "malformed"
        // Not the version itself: any part of the header is the sender's to choose.
        case .unsupportedVersion: "unsupported version"
        case .outsideWindow(let skew): "signed \(skew) ms away from this replica's clock"
        case .badSignature: "signature does not match"
        }
    }
}

/// Signs and checks the forwarding hop between replicas. The header says which replica sent the
/// request and when; the MAC binds that to the request's facts, so a captured hop cannot be
/// replayed with another body, path, session or client address, nor after the window.
struct ReplicaHopSignature: Sendable {
    static let version = "v1"
    /// How far a hop's timestamp may be from the receiver's clock (either way): replicas' clocks
    /// are NTP-synchronised to well within this, and a replay is only possible inside it.
    static let window: Int64 = 30_000

    let key: ReplicaHopKey

    /// The header value for `facts`, sent by replica `sender` at `now`.
    func sign(_ facts: ReplicaHopFacts, sender: String, at now: Date) -> String {
        let milliseconds = Self.milliseconds(now)
        let mac = HMAC<SHA256>.authenticationCode(for: Self.message(facts, sender: sender, milliseconds: milliseconds), using: key.current)
        return [Self.version, sender, String(milliseconds), Base64URL.encode(mac)].joined(separator: ".")
    }

    /// The sending replica's id when `header` is a valid hop signature over `facts` at `now`.
    /// The MAC comparison is constant-time (`isValidAuthenticationCode`).
    func verify(_ header: String, facts: ReplicaHopFacts, now: Date) throws(ReplicaHopError) -> String {
        let parts = header.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { throw .malformed }
        guard parts[0] == Self.version else { throw .unsupportedVersion(String(parts[0])) }
        let sender = String(parts[1])
        guard !sender.isEmpty, let milliseconds = Int64(parts[2]), let mac = Base64URL.decode(String(parts[3])),
            mac.count == SHA256.byteCount
        else { throw .malformed }
        let skew = milliseconds - Self.milliseconds(now)
        guard abs(skew) <= Self.window else { throw .outsideWindow(skewMilliseconds: skew) }
        let message = Self.message(facts, sender: sender, milliseconds: milliseconds)
        guard ([key.current] + key.previous).contains(where: {
            HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: message, using: $0)
        }) else { throw .badSignature }
        return sender
    }

    /// One fact per line: no covered value can hold a line break (HTTP forbids them in header
    /// values and request targets), so no two different fact sets give the same message.
    private static func message(_ facts: ReplicaHopFacts, sender: String, milliseconds: Int64) -> [UInt8] {
        let lines = [
            "fjmcp-replica-hop", version, sender, facts.target, String(milliseconds), facts.method, facts.authority, facts.path,
            // Absent and empty differ: "-" alone, or "+" before the value.
            facts.sessionID.map { "+" + $0 } ?? "-", facts.clientAddress, Hex.encode(facts.headersDigest), Hex.encode(facts.bodyDigest),
        ]
        return Array(lines.joined(separator: "\n").utf8)
    }

    private static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}
