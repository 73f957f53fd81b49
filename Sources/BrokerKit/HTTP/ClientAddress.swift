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
}
