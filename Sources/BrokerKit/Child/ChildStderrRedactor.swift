/// Cuts credentials out of a child's stderr line before the broker logs it: a child (or a
/// library inside it) may print its own token, e.g. in a debug dump of a request.
///
/// Matching is on bytes, exact: every occurrence of a secret becomes `[redacted]`. The end of
/// a line is also checked for the beginning of a secret, because the stderr reader truncates
/// long lines and a token cut in two must not leave its first half in the log.
struct ChildStderrRedactor: Sendable {
    static let marker = Array("[redacted]".utf8)
    /// Shorter values are not secrets worth the false positives (and `"1"` would shred the log).
    static let minimumLength = 8
    /// A line ending with at least this much of a secret's beginning has that end cut.
    static let minimumPartial = 6

    private let secrets: [[UInt8]]

    init(secrets: [String]) {
        self.secrets = Set(secrets).filter { $0.utf8.count >= Self.minimumLength }.map { Array($0.utf8) }
            .sorted { $0.count > $1.count }
    }

    /// The credentials of one child: the given ones plus every environment value whose name
    /// says it is one (`*TOKEN*`, `*SECRET*`, `*PASSWORD*`, `*KEY*`, `*CREDENTIAL*`), e.g. a
    /// second token an operator passes through `FJMCP_CHILD_ENV`.
    static func secrets(in environment: [String: String], credentials: [String]) -> [String] {
        let markers = ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL"]
        let named = environment.filter { name, _ in
            let upper = name.uppercased()
            return markers.contains { upper.contains($0) }
        }.map(\.value)
        return Array(Set((credentials + named).filter { $0.utf8.count >= minimumLength })).sorted()
    }

    func redact(_ line: [UInt8]) -> String {
        guard !secrets.isEmpty else { return String(decoding: line, as: UTF8.self) }
        var text = line
        for secret in secrets { text = Self.replacing(secret, in: text) }
        for secret in secrets { text = Self.cuttingPartialTail(of: secret, from: text) }
        return String(decoding: text, as: UTF8.self)
    }

    private static func replacing(_ secret: [UInt8], in line: [UInt8]) -> [UInt8] {
        guard line.count >= secret.count, let first = secret.first else { return line }
        var result: [UInt8] = []
        var index = 0
        var changed = false
        while index < line.count {
            if line[index] == first, index + secret.count <= line.count, line[index..<(index + secret.count)].elementsEqual(secret) {
                result.append(contentsOf: marker)
                index += secret.count
                changed = true
            } else {
                result.append(line[index])
                index += 1
            }
        }
        return changed ? result : line
    }

    /// Replaces the line's end when it is the first `minimumPartial`+ bytes of `secret`.
    private static func cuttingPartialTail(of secret: [UInt8], from line: [UInt8]) -> [UInt8] {
        let longest = min(secret.count - 1, line.count)
        guard longest >= minimumPartial else { return line }
        for length in stride(from: longest, through: minimumPartial, by: -1)
        where line[(line.count - length)...].elementsEqual(secret[..<length]) {
            return Array(line[..<(line.count - length)]) + marker
        }
        return line
    }
}
