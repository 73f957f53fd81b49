/// One row of the token endpoint's error table (forgejo-notes A5); always HTTP 400.
struct TokenEndpointError: Error, Sendable, Equatable {
    let error: String
    let description: String

    init(_ error: String, _ description: String) {
        self.error = error
        self.description = description
    }
}
