import Foundation
import NIOCore

/// The address a request really came from. `X-Forwarded-For` is attacker-controlled unless the
/// peer is a configured proxy, so it is walked from the right and trusted hops are skipped.
public enum ClientAddress {
    public static func resolve(peer: SocketAddress?, forwardedFor: [String], trusted: [IPRange]) -> String {
        guard let peerText = peer?.ipAddress else { return "-" }
        guard let peerIP = IPAddress(parsing: peerText), trusted.contains(where: { $0.contains(peerIP) }) else { return peerText }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() {
            guard let address = IPAddress(parsing: hop) else { return peerText }
            if !trusted.contains(where: { $0.contains(address) }) { return hop }
        }
        return hops.first ?? peerText
    }

    /// The key a per-address rate limit counts under: the IPv4 address itself (IPv4-mapped IPv6
    /// included), or the IPv6 /64 — one subscriber gets a whole /64 and can rotate through it
    /// per request, so counting full IPv6 addresses would count nothing.
    public static func rateLimitKey(_ resolved: String) -> String {
        guard let address = IPAddress(parsing: resolved) else { return resolved }
        if address.isIPv4 { return address.text }
        var network = address.bytes
        for index in 8..<16 { network[index] = 0 }
        return (IPAddress(bytes: network)?.text ?? resolved) + "/64"
    }
}
