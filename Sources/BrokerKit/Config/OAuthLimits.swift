/// The bounds that keep unauthenticated OAuth traffic from exhausting the broker: rate limits,
/// metadata document fetches, pending authorizations and registered clients. The defaults are
/// the settings' (`Setting.defaultDuration` and siblings).
public struct OAuthLimits: Sendable {
    /// Per client address (IPv4 address, IPv6 /64), each of `/oauth/authorize`, `/oauth/consent`
    /// and `/oauth/callback` separately. nil: off.
    public var authorizeRate = Setting.rateLimitAuthorize.defaultRate
    /// Per client address, `/oauth/register`.
    public var registerRate = Setting.rateLimitRegister.defaultRate
    /// Per client id, each of `/oauth/token` and `/oauth/revoke`.
    public var tokenRate = Setting.rateLimitToken.defaultRate
    /// Pending authorization requests kept at once (each browser has its own, smaller bound).
    public var maxPendingAuthorizations = Setting.maxPendingAuthorizations.defaultInteger
    /// Dynamically registered clients that have never obtained a grant, kept at once (oldest evicted).
    public var maxGrantlessClients = Setting.maxGrantlessClients.defaultInteger
    /// How long such a client is kept.
    public var grantlessClientLifetime = Setting.grantlessClientLifetime.defaultDuration
    /// Ports a client metadata document URL may name; nil allows any.
    public var cimdPorts = Setting.cimdPorts.parsedDefault(ports(configValue:))
    /// The one deadline over a whole metadata document fetch.
    public var cimdFetchTimeout = Setting.cimdFetchTimeout.defaultDuration

    public init() {}

    /// `443,8443` or `any`.
    static func ports(configValue text: String) -> Set<Int>?? {
        if text.lowercased() == "any" { return .some(nil) }
        var ports = Set<Int>()
        for word in CommaSeparated.entries(text) {
            guard let port = Int(word), (1...65_535).contains(port) else { return nil }
            ports.insert(port)
        }
        return ports.isEmpty ? nil : .some(ports)
    }

    /// A rate limit setting: `BURST/PERIOD` or `off`.
    static func rate(configValue text: String) -> RateLimiter.Policy?? {
        if text.lowercased() == "off" { return .some(nil) }
        return RateLimiter.Policy(configValue: text).map { .some($0) }
    }
}
