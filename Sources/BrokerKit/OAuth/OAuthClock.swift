import Foundation

/// Where the authorization server reads "now". Injected so tests can expire codes, tokens and
/// grace windows without sleeping.
public struct OAuthClock: Sendable {
    public let now: @Sendable () -> Date

    public init(now: @escaping @Sendable () -> Date) { self.now = now }

    public static let system = OAuthClock { Date() }
}
