import Foundation

/// Form- or query-encoded OAuth parameters. RFC 6749 §3.1 forbids repeated parameters and
/// treats empty ones as absent; both rules live here so no endpoint can forget them.
package struct OAuthParameters: Sendable {
    package enum Problem: Error, Equatable {
        case duplicated(String)
        case tooLong(String)
        /// A NUL byte (`%00`): no value of the protocol has one, PostgreSQL cannot store one, and
        /// a value echoed back later (`state`) must be what the client sent.
        case nulCharacter(String)
    }

    private let values: [String: [String]]

    package init(encoded text: String) {
        var values: [String: [String]] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.formDecode(parts[0]), !name.isEmpty else { continue }
            let value = parts.count > 1 ? Self.formDecode(parts[1]) ?? "" : ""
            values[name, default: []].append(value)
        }
        self.values = values
    }

    /// The parameter's single value, nil when absent or empty.
    package func value(_ name: String, maxLength: Int = 2_048) throws(Problem) -> String? {
        guard let found = values[name] else { return nil }
        guard found.count == 1 else { throw .duplicated(name) }
        guard found[0].utf8.count <= maxLength else { throw .tooLong(name) }
        guard !found[0].utf8.contains(0) else { throw .nulCharacter(name) }
        return found[0].isEmpty ? nil : found[0]
    }

    package func contains(_ name: String) -> Bool { values[name] != nil }

    /// One `application/x-www-form-urlencoded` name or value: `+` is a space, then percent
    /// decoding; nil when that is not valid UTF-8 (e.g. `%zz`, `%ff`).
    package static func formDecode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}

extension OAuthParameters.Problem {
    package var reason: String {
        switch self {
        case .duplicated: "duplicate_parameter"
        case .tooLong: "parameter_too_long"
        case .nulCharacter: "parameter_contains_nul"
        }
    }

    package var message: String {
        switch self {
        case .duplicated(let name): "parameter \(name) is repeated"
        case .tooLong(let name): "parameter \(name) is too long"
        case .nulCharacter(let name): "parameter \(name) contains a NUL character"
        }
    }
}
