import Foundation

/// `application/x-www-form-urlencoded` fields (bodies and query strings) with Go's semantics:
/// `+` is a space, the first occurrence of a key wins, a missing key reads as "".
struct FormFields: Sendable {
    private(set) var pairs: [(key: String, value: String)] = []

    init(pairs: [(key: String, value: String)]) {
        self.pairs = pairs
    }

    init(encoded: String) {
        for part in encoded.split(separator: "&", omittingEmptySubsequences: true) {
            let keyValue = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = Self.unescape(keyValue[0])
            let value = keyValue.count > 1 ? Self.unescape(keyValue[1]) : ""
            pairs.append((key, value))
        }
    }

    subscript(_ key: String) -> String {
        pairs.first { $0.key == key }?.value ?? ""
    }

    func contains(_ key: String) -> Bool {
        pairs.contains { $0.key == key }
    }

    /// Go's `url.Values.Encode`: keys sorted, `QueryEscape` on keys and values.
    func encoded() -> String {
        pairs.enumerated()
            .sorted { ($0.element.key, $0.offset) < ($1.element.key, $1.offset) }
            .map { "\(Self.escape($0.element.key))=\(Self.escape($0.element.value))" }
            .joined(separator: "&")
    }

    /// Replaces every occurrence of `key` (Go's `Values.Set`).
    mutating func set(_ key: String, _ value: String) {
        pairs.removeAll { $0.key == key }
        pairs.append((key, value))
    }

    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")

    static func escape(_ text: String) -> String {
        (text.addingPercentEncoding(withAllowedCharacters: unreserved.union([" "])) ?? "")
            .replacingOccurrences(of: " ", with: "+")
    }

    private static func unescape(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
