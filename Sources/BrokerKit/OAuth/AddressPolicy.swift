#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOPosix

/// SSRF guard for client metadata document fetches: the broker must not be usable to probe its
/// own network, so documents on loopback, private, link-local, shared, multicast or
/// documentation addresses are refused (MCP security best practices, §SSRF).
///
/// IPv6 can carry an IPv4 address in several ways; each is judged by what it would reach:
/// - IPv4-mapped `::ffff:a.b.c.d` is parsed as the IPv4 address itself (``IPAddress``);
/// - NAT64 `64:ff9b::a.b.c.d` (RFC 6052) reaches the embedded address through a translator, so
///   it is public exactly when that address is (an IPv6-only host with DNS64 needs this);
/// - IPv4-compatible `::a.b.c.d` (deprecated), IPv4-translated `::ffff:0:a.b.c.d` (SIIT), 6to4
///   `2002::/16`, Teredo `2001::/32` and local-use NAT64 `64:ff9b:1::/48` are refused outright:
///   nothing legitimate serves a metadata document there, and their embedded addresses are
///   tunnel endpoints the broker cannot judge.
enum AddressPolicy {
    static let blocked: [IPRange] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/96", "::ffff:0:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
        "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    ].compactMap(IPRange.init(parsing:))

    static let nat64 = IPRange(parsing: "64:ff9b::/96")!

    static func isPublic(_ address: IPAddress) -> Bool {
        if nat64.contains(address) { return isPublic(IPAddress(ipv4: address.bytes[12...])) }
        return !blocked.contains { $0.contains(address) }
    }
}

/// Resolves host names for the SSRF check. A protocol so tests can make a public-looking name
/// resolve to a private address.
public protocol HostResolver: Sendable {
    func addresses(of host: String) async throws -> [IPAddress]
}

/// `getaddrinfo` on a small thread pool of its own, so resolution never stalls the event loops,
/// and a name server that never answers (a document host's own, say) ties up only these
/// threads, not NIO's shared pool. Callers stop waiting at their deadline; the call itself
/// ends with the system resolver's own timeout.
public struct SystemHostResolver: HostResolver {
    public struct Failure: Error {}

    private static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        return pool
    }()

    public init() {}

    public func addresses(of host: String) async throws -> [IPAddress] {
        try await Self.pool.runIfActive {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { throw Failure() }
            defer { freeaddrinfo(first) }
            var addresses: [IPAddress] = []
            var cursor: UnsafeMutablePointer<addrinfo>? = first
            while let info = cursor {
                if let text = Self.numericHost(info.pointee), let address = IPAddress(parsing: text) { addresses.append(address) }
                cursor = info.pointee.ai_next
            }
            return addresses
        }
    }

    private static func numericHost(_ info: addrinfo) -> String? {
        var buffer = [CChar](repeating: 0, count: 1_025)
        guard getnameinfo(info.ai_addr, info.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
