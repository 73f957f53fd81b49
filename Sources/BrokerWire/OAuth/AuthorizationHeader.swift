import Foundation

/// The two `Authorization` schemes the broker reads, parsed from the header's raw values (every
/// occurrence, so a repeated header is seen and refused rather than one copy picked).
package enum AuthorizationHeader {
    package enum Failure: Error, Equatable {
        /// No credentials of the scheme: the caller answers with a challenge.
        case missing
        /// Credentials of the scheme that cannot be read (repeated header, bad encoding).
        case malformed
    }

    /// The token of `Bearer <token>` (scheme case-insensitive, surrounding spaces dropped), never
    /// empty: `Bearer` followed by spaces only is malformed (found by Fuzz/authorization).
    /// Another scheme counts as missing, so a client sending e.g. Basic gets the bearer challenge.
    package static func bearerToken(_ values: [String]) throws(Failure) -> String {
        guard values.count == 1, let header = values.first else { throw values.isEmpty ? .missing : .malformed }
        if let token = plainBearerToken(header) { return token }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw parts.first?.lowercased() == "bearer" ? .malformed : .missing
        }
        let token = trimmedOfWhitespace(parts[1])
        guard !token.isEmpty else { throw .malformed }
        return token
    }

    /// The common form, `Bearer <token>` with the scheme written so and the token starting and
    /// ending in a visible ASCII character, read without splitting or case folding (every `/mcp`
    /// request passes here); nil sends anything else through the general parse, which reads the
    /// same token from it.
    private static func plainBearerToken(_ header: String) -> String? {
        let utf8 = header.utf8
        let prefix = "Bearer ".utf8
        guard utf8.count > prefix.count, utf8.starts(with: prefix) else { return nil }
        let token = utf8.dropFirst(prefix.count)
        guard let first = token.first, let last = token.last, (0x21...0x7E).contains(first), (0x21...0x7E).contains(last) else {
            return nil
        }
        return String(Substring(token))
    }

    /// `text` without the `.whitespaces` (tab and Unicode space separators) around it. Every
    /// `/mcp` request has its token read here, and nearly every token has none around it: then
    /// the bridged Foundation trim (most of this parse's cost) is skipped.
    private static func trimmedOfWhitespace(_ text: Substring) -> String {
        func isSpace(_ scalar: Unicode.Scalar) -> Bool { scalar == "\t" || scalar.properties.generalCategory == .spaceSeparator }
        if let first = text.unicodeScalars.first, let last = text.unicodeScalars.last, !isSpace(first), !isSpace(last) {
            return String(text)
        }
        return String(text).trimmingCharacters(in: .whitespaces)
    }

    /// RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`. Nil without an
    /// `Authorization` header; `.malformed` for anything else that is not exactly that (a header
    /// over 4 KiB, another scheme, bad base64, no colon, an empty id).
    package static func basicCredentials(_ values: [String]) throws(Failure) -> (id: String, secret: String)? {
        guard !values.isEmpty else { return nil }
        guard values.count == 1, values[0].utf8.count <= 4_096 else { throw .malformed }
        let parts = values[0].split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
              let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
              let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":"),
              let id = OAuthParameters.formDecode(text[..<colon]),
              let secret = OAuthParameters.formDecode(text[text.index(after: colon)...]), !id.isEmpty
        else { throw .malformed }
        return (id, secret)
    }
}
