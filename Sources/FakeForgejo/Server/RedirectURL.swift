/// Builds the 303 targets of the authorize endpoint the way Forgejo does: the redirect URI's own
/// query is kept, new parameters replace same-named ones, and Go re-encodes with sorted keys.
enum RedirectURL {
    static func build(_ redirectURI: String, adding parameters: [(String, String)]) -> String {
        let withoutFragment = redirectURI.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
        let parts = withoutFragment.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var query = FormFields(encoded: parts.count > 1 ? String(parts[1]) : "")
        for (key, value) in parameters { query.set(key, value) }
        return "\(parts[0])?\(query.encoded())"
    }

    /// Error redirects always carry `state`, even when it is empty (`state=`).
    static func error(_ redirectURI: String, error: String, description: String, state: String) -> String {
        build(redirectURI, adding: [("error", error), ("error_description", description), ("state", state)])
    }

    /// Success redirects add `state` only when the client sent one.
    static func code(_ redirectURI: String, code: String, state: String) -> String {
        build(redirectURI, adding: state.isEmpty ? [("code", code)] : [("code", code), ("state", state)])
    }
}
