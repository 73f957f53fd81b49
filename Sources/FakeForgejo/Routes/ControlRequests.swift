/// JSON bodies of the `/_fake/` control endpoints.
struct LifetimesRequest: Decodable, Sendable {
    let accessSeconds: Int?
    let refreshHours: Int?
    let invalidateRefreshTokens: Bool?

    enum CodingKeys: String, CodingKey {
        case accessSeconds = "access_seconds"
        case refreshHours = "refresh_hours"
        case invalidateRefreshTokens = "invalidate_refresh_tokens"
    }
}

struct ExpireTokensRequest: Decodable, Sendable {
    let includeRefreshTokens: Bool?

    enum CodingKeys: String, CodingKey {
        case includeRefreshTokens = "include_refresh_tokens"
    }
}

struct AutoApproveRequest: Decodable, Sendable {
    let login: String?
}

struct AdvanceClockRequest: Decodable, Sendable {
    let seconds: Int
}

struct FaultRequest: Decodable, Sendable {
    let target: FakeFaultTarget
    let kind: String
    let count: Int?
    let milliseconds: Int?
}

struct ControlUserResponse: Encodable, Sendable {
    let id: Int
    let login: String
    let isAdmin: Bool

    enum CodingKeys: String, CodingKey {
        case id, login
        case isAdmin = "is_admin"
    }
}

struct CreateOrganizationRequest: Decodable, Sendable {
    let name: String
}

struct ControlOrganizationResponse: Encodable, Sendable {
    let id: Int
    let name: String
}
