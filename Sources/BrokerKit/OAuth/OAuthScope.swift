/// The broker's scopes. Access is all-or-nothing (what the Forgejo token allows), so there is one
/// scope, `mcp`. Unknown scopes are ignored rather than refused (RFC 6749 §3.3 lets the server
/// grant less than asked): several MCP clients send `openid`, `profile` or `offline_access`
/// out of habit, and refusing them would break logins for no security gain.
enum OAuthScope {
    static let mcp = "mcp"
    static let supported = [mcp]

    /// The granted scope string for a requested one; nil when the text is not a valid scope
    /// list (RFC 6749 §3.3: space-separated NQCHAR tokens).
    static func grant(requested: String?) -> String? {
        guard let requested else { return mcp }
        let tokens = requested.split(separator: " ", omittingEmptySubsequences: true)
        let valid = tokens.allSatisfy { token in
            token.unicodeScalars.allSatisfy { $0 == "!" || (0x23...0x5B).contains($0.value) || (0x5D...0x7E).contains($0.value) }
        }
        guard valid, !tokens.isEmpty else { return nil }
        return mcp
    }
}
