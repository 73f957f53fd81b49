import Foundation

/// A Forgejo access token the broker may hand to a child, with what a session needs to decide
/// whether it must swap its child: the expiry and the generation of the stored token set.
public struct UpstreamAccessToken: Sendable, Equatable, CustomStringConvertible {
    public let userID: Int64
    public let token: String
    public let expiresAt: Date
    /// The store version of the token set this token came from. It grows with every refresh or
    /// login of the user, so a session compares it with the generation its child holds and
    /// ignores events about a token it already runs with.
    public let generation: Int64
    /// The thresholds derived from this token's real lifetime (refresh point, what a new child
    /// needs, the retirement margin of a child running on it); nil when unknown.
    public let thresholds: UpstreamTokenThresholds?

    public init(userID: Int64, token: String, expiresAt: Date, generation: Int64, thresholds: UpstreamTokenThresholds? = nil) {
        self.userID = userID
        self.token = token
        self.expiresAt = expiresAt
        self.generation = generation
        self.thresholds = thresholds
    }

    /// Redacted, so a log line or test failure message never carries the token.
    public var description: String {
        "UpstreamAccessToken(user: \(userID), generation: \(generation), expiresAt: \(expiresAt))"
    }
}
