import Foundation

extension Duration {
    /// Parses operator-friendly durations: `90s`, `30m`, `24h`, `30d`, `250ms`, and compounds
    /// such as `1h30m`. A bare number is rejected on purpose: `FJMCP_SESSION_IDLE_TIMEOUT=30`
    /// is ambiguous (seconds? minutes?) and a silent guess is worse than an error.
    public init?(configValue text: String) {
        var remaining = Substring(text.trimmingCharacters(in: [" "]))
        guard !remaining.isEmpty else { return nil }
        var total: Int64 = 0
        while !remaining.isEmpty {
            let digits = remaining.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits.count <= 12, let number = Int64(digits) else { return nil }
            remaining = remaining.dropFirst(digits.count)
            let unit = remaining.prefix { $0.isLetter }
            remaining = remaining.dropFirst(unit.count)
            let millisecondsPerUnit: Int64
            switch unit {
            case "ms": millisecondsPerUnit = 1
            case "s": millisecondsPerUnit = 1_000
            case "m": millisecondsPerUnit = 60_000
            case "h": millisecondsPerUnit = 3_600_000
            case "d": millisecondsPerUnit = 86_400_000
            default: return nil
            }
            let (product, overflowA) = number.multipliedReportingOverflow(by: millisecondsPerUnit)
            let (sum, overflowB) = total.addingReportingOverflow(product)
            guard !overflowA, !overflowB else { return nil }
            total = sum
        }
        self = .milliseconds(total)
    }

    /// The shortest exact rendering (`90s`, `30m`, `1h30m`), for `check-config`.
    public var configDescription: String {
        var ms = components.seconds * 1_000 + components.attoseconds / 1_000_000_000_000_000
        if ms == 0 { return "0s" }
        var text = ""
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] where ms >= size {
            text += "\(ms / size)\(unit)"
            ms %= size
        }
        return text
    }
}
