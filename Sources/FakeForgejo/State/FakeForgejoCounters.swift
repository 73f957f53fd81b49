/// Observations tests assert on (e.g. "exactly one refresh happened").
public struct FakeForgejoCounters: Sendable, Codable, Equatable {
    /// Keyed `"<grant_type>:<outcome>"`, outcome `ok` or the OAuth error code.
    public var tokenRequests: [String: Int] = [:]
    /// Successful refresh_token grants.
    public var refreshes: Int = 0
    /// API calls by request path (including rejected ones).
    public var apiCalls: [String: Int] = [:]
    /// Successful refreshes by user login.
    public var refreshesByUser: [String: Int] = [:]

    public init() {}

    public func tokenRequests(grantType: String, outcome: String) -> Int {
        tokenRequests["\(grantType):\(outcome)"] ?? 0
    }

    enum CodingKeys: String, CodingKey {
        case tokenRequests = "token_requests"
        case refreshes
        case apiCalls = "api_calls"
        case refreshesByUser = "refreshes_by_user"
    }
}
