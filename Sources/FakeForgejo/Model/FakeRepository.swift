/// An in-memory repository with its issues, enough for forgejo-mcp and gitea-mcp smoke tools.
struct FakeRepository: Sendable {
    let id: Int
    let ownerID: Int
    let ownerLogin: String
    let name: String
    var issues: [FakeIssue]

    var fullName: String { "\(ownerLogin)/\(name)" }
}

/// An issue; `index` is the per-repository number used in URLs.
struct FakeIssue: Sendable {
    let id: Int
    let index: Int
    let title: String
    let body: String
    let authorID: Int
    let createdAt: Int
}
