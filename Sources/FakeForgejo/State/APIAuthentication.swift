/// Result of reading the `Authorization` header on an `/api/v1` request (forgejo-notes A10).
enum APIAuthentication: Sendable, Equatable {
    /// No usable header: public routes answer, others say "token is required".
    case anonymous
    case user(FakeUser)
    /// A token was sent and is bad, expired or revoked: 401 on every route.
    case rejected
}
