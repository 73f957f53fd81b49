import Foundation
import Logging

extension BrokerConfig {
    /// Validates every setting and collects all problems instead of stopping at the first.
    ///
    /// - Parameter requireUpstream: `demo` supplies Forgejo settings itself, so it can relax the
    ///   "required" checks that `serve` enforces.
    public static func load(from source: ConfigSource, requireUpstream: Bool = true) throws(ConfigError) -> BrokerConfig {
        var reader = ConfigReader(source: source, problems: source.problems)

        let publicURL = reader.publicURL()
        let listen = reader.parse(.listen) { ListenAddress(parsing: $0) } hint: { "expected host:port, e.g. 127.0.0.1:8080" }
        let dataDir = reader.string(.dataDir, nonEmpty: true)
        let database = reader.database(dataDirectory: dataDir ?? "./data")
        let replica = reader.replicaSettings(database: database)
        let secretKey = reader.secretKey(.secretKey)
        let previousSecretKey = reader.secretKey(.secretKeyPrevious)
        let forgejoURL = reader.forgejoURL(required: requireUpstream)
        let clientID = reader.string(.forgejoClientID, nonEmpty: requireUpstream)
        let clientSecret = reader.string(.forgejoClientSecret, nonEmpty: requireUpstream)
        let scopes = reader.string(.forgejoScopes) ?? ""
        let access = reader.access(forgejoScopes: scopes)
        let childCommand = reader.string(.childCommand, nonEmpty: true)
        let tokenEnv = reader.envName(.childTokenEnv)
        let urlEnv = reader.envName(.childURLEnv)
        let childEnv = reader.childEnv()
        let stopGrace = reader.duration(.childStopGrace)
        let sandbox = reader.parse(.childSandbox) { ChildSandboxMode(rawValue: $0.lowercased()) } hint: { "expected auto, on or off" }
        let bwrapPath = reader.string(.bwrapPath).flatMap { $0.isEmpty ? nil : $0 }
        let idle = reader.duration(.sessionIdleTimeout, positive: true)
        let lifetime = reader.duration(.sessionMaxLifetime, positive: true)
        let perUser = reader.integer(.maxSessionsPerUser, range: 1...100_000)
        let total = reader.integer(.maxSessions, range: 1...1_000_000)
        let callsPerSession = reader.integer(.maxCallsPerSession, range: 1...100_000)
        let bufferedBytes = reader.integer(.maxBufferedEventBytes, range: (64 << 10)...(1 << 30))
        let spawnRate = reader.parse(.rateLimitSpawn, OAuthLimits.rate(configValue:)) { "expected BURST/PERIOD (e.g. 20/20s) or off" }
        let accessTTL = reader.duration(.accessTokenTTL, positive: true)
        let refreshTTL = reader.duration(.refreshTokenTTL, positive: true)
        let grace = reader.duration(.refreshGrace)
        let probeInterval = reader.duration(.upstreamProbeInterval, positive: true)
        let proxies = reader.addressList(.trustedProxies, allowAny: false)
        let metricsAllow = reader.addressList(.metricsAllow, allowAny: true)
        let maxBody = reader.integer(.maxBodySize, range: 1_024...(64 << 20))
        let shutdown = reader.duration(.shutdownTimeout, positive: true)
        let level = reader.parse(.logLevel) { Logger.Level(rawValue: $0.lowercased()) } hint: { "expected trace, debug, info, notice, warning, error or critical" }
        let format = reader.parse(.logFormat) { LogFormat(rawValue: $0.lowercased()) } hint: { "expected text or json" }
        let cimdAllowPrivate = reader.parse(.cimdAllowPrivate) { Bool($0.lowercased()) } hint: { "expected true or false" }
        let oauthLimits = reader.oauthLimits()
        let tools = reader.toolPolicy()
        let audit = reader.auditSettings()

        if let perUser, let total, perUser > total {
            reader.problems.append("\(Setting.maxSessionsPerUser.env)=\(perUser) exceeds \(Setting.maxSessions.env)=\(total)")
        }
        guard reader.problems.isEmpty,
              let publicURL, let listen, let dataDir, let database, let childCommand, let tokenEnv, let urlEnv,
              let stopGrace, let sandbox, let idle, let lifetime, let perUser, let total, let callsPerSession, let accessTTL, let refreshTTL, let grace,
              let proxies, let metricsAllow, let maxBody, let shutdown, let level, let format, let cimdAllowPrivate, let oauthLimits,
              let tools, let audit, let bufferedBytes, let spawnRate, let probeInterval, let access
        else {
            throw ConfigError(problems: reader.problems.isEmpty ? ["invalid configuration"] : reader.problems)
        }
        var config = BrokerConfig(
            publicURL: publicURL, listen: listen, dataDirectory: dataDir, database: database,
            secretKey: secretKey, previousSecretKeys: previousSecretKey.map { [$0] } ?? [],
            forgejo: .init(baseURL: forgejoURL ?? "", clientID: clientID ?? "", clientSecret: clientSecret ?? "", scopes: scopes),
            child: .init(command: childCommand, tokenEnv: tokenEnv, urlEnv: urlEnv, extraEnv: childEnv, stopGrace: stopGrace,
                         sandbox: sandbox, sandboxHelper: bwrapPath),
            sessions: .init(idleTimeout: idle, maxLifetime: lifetime, maxPerUser: perUser, maxTotal: total,
                            maxCallsPerSession: callsPerSession, maxBufferedEventBytes: bufferedBytes,
                            spawnRate: spawnRate),
            tokens: .init(accessToken: accessTTL, refreshToken: refreshTTL, refreshGrace: grace),
            trustedProxies: proxies ?? [], metricsAllow: metricsAllow, maxBodySize: maxBody, shutdownTimeout: shutdown,
            logLevel: level, logFormat: format, cimdAllowPrivate: cimdAllowPrivate, oauth: oauthLimits,
            tools: tools, audit: audit
        )
        config.access = access
        config.replica = replica
        config.upstreamProbeInterval = probeInterval
        return config
    }

    /// `check-config` output: every setting with its effective value, secrets redacted.
    public static func describe(_ source: ConfigSource, settings: [Setting] = Setting.all) -> [String] {
        settings.map { setting in
            let shown: String
            switch source.value(setting) {
            case nil: shown = setting == .secretKey ? "(generated)" : "(unset)"
            case let value? where setting.isSecret: shown = value.isEmpty ? "(empty)" : "<redacted>"
            case let value? where setting == .databaseURL:
                shown = (try? DatabaseLocation.parse(value, password: nil).get())?.redacted ?? "<invalid, not shown>"
            case let value?: shown = value
            }
            return "\(setting.env)=\(shown)" + (source.isExplicit(setting) ? "" : "  # default")
        }
    }
}

/// Accumulates problems while reading settings; each accessor returns `nil` after recording why.
/// Every setting is read through it (components add accessors in their own folders, e.g.
/// `auditSettings()`), so all trim, parse and report the same way.
struct ConfigReader {
    let source: ConfigSource
    var problems: [String]

    mutating func string(_ setting: Setting, nonEmpty: Bool = false) -> String? {
        let value = source.value(setting)?.trimmingCharacters(in: .whitespaces)
        if nonEmpty, value?.isEmpty ?? true {
            problems.append("\(setting.env) is required")
            return nil
        }
        return value
    }

    mutating func parse<T>(_ setting: Setting, _ parser: (String) -> T?, hint: () -> String) -> T? {
        guard let raw = string(setting, nonEmpty: true) else { return nil }
        guard let value = parser(raw) else {
            problems.append("\(setting.env)=\(raw) is invalid: \(hint())")
            return nil
        }
        return value
    }

    mutating func duration(_ setting: Setting, positive: Bool = false) -> Duration? {
        let value = parse(setting, { Duration(configValue: $0) }) { "expected a duration such as 90s, 30m, 24h or 30d" }
        if let value, positive, value <= .zero {
            problems.append("\(setting.env) must be greater than zero")
            return nil
        }
        return value
    }

    mutating func integer(_ setting: Setting, range: ClosedRange<Int>) -> Int? {
        let value = parse(setting, { Int($0) }) { "expected a whole number" }
        if let value, !range.contains(value) {
            problems.append("\(setting.env)=\(value) is out of range \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return value
    }

    mutating func envName(_ setting: Setting) -> String? {
        parse(setting, { EnvironmentName.isValid($0) ? $0 : nil }) { "expected an environment variable name" }
    }

    mutating func publicURL() -> PublicURL? {
        guard let raw = string(.publicURL, nonEmpty: true) else { return nil }
        switch PublicURL.parse(raw) {
        case .success(let url): return url
        case .failure(let reason):
            problems.append("\(Setting.publicURL.env)=\(raw) is invalid: \(reason.message)")
            return nil
        }
    }

    mutating func forgejoURL(required: Bool) -> String? {
        guard let raw = string(.forgejoURL, nonEmpty: required), !raw.isEmpty else { return nil }
        switch PublicURL.parse(raw, allowPath: true, requireTLSOffLoopback: false) {
        case .success(let url): return url.origin + url.path
        case .failure(let reason):
            problems.append("\(Setting.forgejoURL.env)=\(raw) is invalid: \(reason.message)")
            return nil
        }
    }

    mutating func database(dataDirectory: String) -> DatabaseLocation? {
        guard let raw = source.values[Setting.databaseURL.env], !raw.isEmpty else {
            return .sqlite(path: dataDirectory + "/broker.sqlite")
        }
        switch DatabaseLocation.parse(raw, password: source.values[Setting.databasePassword.env]) {
        case .success(let location): return location
        case .failure(let reason):
            // Not the URL itself: it may carry a password.
            problems.append("\(Setting.databaseURL.env) is invalid: \(reason)")
            return nil
        }
    }

    mutating func secretKey(_ setting: Setting) -> [UInt8]? {
        guard let raw = source.values[setting.env] else { return nil }
        guard let key = SecretKeyText.decode(raw) else {
            problems.append("\(setting.env) is invalid: expected 32 bytes as base64, base64url or 64 hex digits")
            return nil
        }
        return key
    }

    mutating func childEnv() -> [String] {
        guard let raw = string(.childEnv), !raw.isEmpty else { return [] }
        let entries = CommaSeparated.entries(raw)
        for entry in entries {
            let name = entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? entry
            if !EnvironmentName.isValid(name) {
                problems.append("\(Setting.childEnv.env): '\(name)' is not a valid environment variable name")
            }
        }
        return entries
    }

    /// An address list setting. Returns `.some(nil)` for `any` (no restriction), `nil` after a problem.
    mutating func addressList(_ setting: Setting, allowAny: Bool) -> [IPRange]?? {
        guard let raw = string(setting) else { return .some([]) }
        var ranges: [IPRange] = []
        for word in CommaSeparated.entries(raw) {
            switch word {
            case "none": continue
            case "any" where allowAny: return .some(nil)
            case "loopback": ranges += IPRange.loopback
            default:
                guard let range = IPRange(parsing: word) else {
                    problems.append("\(setting.env): '\(word)' is not an IP address or CIDR range")
                    return nil
                }
                ranges.append(range)
            }
        }
        return .some(ranges)
    }
}

/// Secret key text accepted in `FJMCP_SECRET_KEY` and the key file.
enum SecretKeyText {
    static func decode(_ text: String) -> [UInt8]? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.count == 64, let bytes = Hex.decode(trimmed) { return bytes }
        if let bytes = Base64URL.decode(trimmed), bytes.count == 32 { return bytes }
        return nil
    }
}

/// A portable environment variable name: an ASCII letter or `_`, then ASCII letters, digits or
/// `_`. One rule for configuration and for the child environment, so a name accepted at startup
/// is never rejected at spawn time.
public enum EnvironmentName {
    public static func isValid(_ name: String) -> Bool {
        guard let first = name.utf8.first, first == UInt8(ascii: "_") || isASCIILetter(first) else { return false }
        return name.utf8.allSatisfy { byte in
            byte == UInt8(ascii: "_") || isASCIILetter(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
    }

    private static func isASCIILetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
    }
}

extension ConfigReader {
    /// The OAuth abuse bounds; nil after recording a problem.
    mutating func oauthLimits() -> OAuthLimits? {
        var limits = OAuthLimits()
        let hint = { "expected BURST/PERIOD (e.g. 30/1m) or off" }
        let authorize = parse(.rateLimitAuthorize, OAuthLimits.rate(configValue:), hint: hint)
        let register = parse(.rateLimitRegister, OAuthLimits.rate(configValue:), hint: hint)
        let token = parse(.rateLimitToken, OAuthLimits.rate(configValue:), hint: hint)
        let pending = integer(.maxPendingAuthorizations, range: 10...10_000_000)
        let grantless = integer(.maxGrantlessClients, range: 10...10_000_000)
        let lifetime = duration(.grantlessClientLifetime, positive: true)
        let ports = parse(.cimdPorts, OAuthLimits.ports(configValue:)) { "expected comma-separated ports (e.g. 443) or any" }
        let timeout = duration(.cimdFetchTimeout, positive: true)
        guard let authorize, let register, let token, let pending, let grantless, let lifetime, let ports, let timeout else { return nil }
        (limits.authorizeRate, limits.registerRate, limits.tokenRate) = (authorize, register, token)
        (limits.maxPendingAuthorizations, limits.maxGrantlessClients, limits.grantlessClientLifetime) = (pending, grantless, lifetime)
        (limits.cimdPorts, limits.cimdFetchTimeout) = (ports, timeout)
        return limits
    }
}

extension ConfigReader {
    /// Who may connect; nil after recording a problem (which fails the load).
    mutating func access(forgejoScopes: String) -> AccessSettings? {
        var access = AccessSettings()
        let before = problems.count
        do {
            access.signIn = try SignInPolicy(users: string(.allowedUsers) ?? "", organizations: string(.allowedOrgs) ?? "")
            let missing = access.signIn.missingScopes(granted: forgejoScopes)
            if !missing.isEmpty {
                problems.append("\(Setting.allowedOrgs.env) needs the Forgejo scope \(missing.joined(separator: " and ")), "
                                + "which \(Setting.forgejoScopes.env)=\(forgejoScopes) does not grant")
            }
        } catch {
            let setting = error.list == .users ? Setting.allowedUsers : .allowedOrgs
            problems.append("\(setting.env): '\(error.entry)' is invalid: \(error.message)")
        }
        access.redirectHosts = allowlist(.allowedRedirectHosts, allowSchemes: true)
        access.clientIDHosts = allowlist(.allowedClientIDHosts, allowSchemes: false)
        if let path = string(.staticClientsFile), !path.isEmpty {
            do { access.staticClients = try StaticClients.load(path: path) } catch {
                problems.append("\(Setting.staticClientsFile.env)=\(path) is invalid: \(error.message)")
            }
        }
        access.contact = string(.accessContact).flatMap { $0.isEmpty ? nil : $0 }
        return problems.count == before ? access : nil
    }

    private mutating func allowlist(_ setting: Setting, allowSchemes: Bool) -> ClientHostAllowlist? {
        guard let raw = string(setting), !raw.isEmpty else { return nil }
        do {
            let list = try ClientHostAllowlist(configValue: raw, allowSchemes: allowSchemes)
            return list.isEmpty ? nil : list
        } catch {
            problems.append("\(setting.env): '\(error.entry)' is invalid: \(error.message)")
            return nil
        }
    }
}
