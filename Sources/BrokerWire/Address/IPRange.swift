#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address as 16 bytes (IPv4 mapped into `::ffff:0:0/96`) so one comparison
/// routine serves both families.
public struct IPAddress: Sendable, Hashable {
    public let bytes: [UInt8]

    public init?(parsing text: String) {
        var text = text
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(ipv4: withUnsafeBytes(of: v4.s_addr) { Array($0)[...] })
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            self.init(bytes: withUnsafeBytes(of: v6) { Array($0) })
            return
        }
        return nil
    }

    /// The IPv4 address of these 4 bytes (network order), e.g. one embedded in an IPv6 address.
    public init(ipv4 raw: ArraySlice<UInt8>) {
        precondition(raw.count == 4, "an IPv4 address is 4 bytes")
        bytes = [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + raw
    }

    /// 16 bytes in network order (IPv4 as `::ffff:a.b.c.d`).
    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    public var isIPv4: Bool { bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF }

    /// The conventional text form (`192.0.2.1`, `2001:db8::1`), as `inet_ntop` writes it.
    public var text: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let written: UnsafePointer<CChar>? = if isIPv4 {
            Array(bytes[12...]).withUnsafeBytes { inet_ntop(AF_INET, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        } else {
            bytes.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        }
        guard written != nil else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A CIDR range such as `10.0.0.0/8` or `fd00::/8`; a bare address is a /32 or /128.
public struct IPRange: Sendable, Hashable {
    public let network: IPAddress
    /// Prefix length in the 128-bit space.
    public let prefixLength: Int

    public init?(parsing text: String) {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let address = parts.first.flatMap(IPAddress.init(parsing:)) else { return nil }
        let maxPrefix = address.isIPv4 ? 32 : 128
        var prefix = maxPrefix
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maxPrefix).contains(value) else { return nil }
            prefix = value
        }
        network = address
        prefixLength = address.isIPv4 ? prefix + 96 : prefix
    }

    public func contains(_ address: IPAddress) -> Bool {
        var remaining = prefixLength
        for index in 0..<16 where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if network.bytes[index] & mask != address.bytes[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    public static let loopback: [IPRange] = ["127.0.0.0/8", "::1/128"].compactMap(IPRange.init(parsing:))
}
