/// A grant's scope as Forgejo enforces it on the API (forgejo-notes A8): granular `read:x` /
/// `write:x` words restrict, write implies read, `all` or no valid word at all means full access.
/// The fake enforces it on the membership routes only, which the broker's sign-in check reads.
struct FakeTokenScope: Sendable {
    static let categories: Set<String> = [
        "activitypub", "admin", "issue", "misc", "notification", "organization", "package", "repository", "user",
    ]
    let words: Set<String>

    init(_ scope: String) {
        words = Set(scope.split(separator: " ").map(String.init).filter { word in
            let parts = word.split(separator: ":", maxSplits: 1)
            return word == "all" || (parts.count == 2 && ["read", "write"].contains(parts[0]) && Self.categories.contains(String(parts[1])))
        })
    }

    /// The `read:<category>` scopes of `categories` this token lacks; empty when it may read them all.
    func missingRead(_ categories: [String]) -> [String] {
        guard !words.isEmpty, !words.contains("all") else { return [] }
        return categories.filter { !words.contains("read:" + $0) && !words.contains("write:" + $0) }.map { "read:" + $0 }
    }
}
