extension Setting {
    /// The default as a duration, an integer or a rate limit, parsed as `ConfigReader` parses a
    /// value: the configuration structs take their own defaults from here, so every default is
    /// written once, in the settings table (and so in `--help` and the README). A default that
    /// does not parse is a programming error, caught by every test that loads the defaults.
    public var defaultDuration: Duration { parsedDefault { Duration(configValue: $0) } }
    public var defaultInteger: Int { parsedDefault { Int($0) } }
    /// nil: the default is `off`.
    public var defaultRate: RateLimiter.Policy? { parsedDefault(OAuthLimits.rate(configValue:)) }

    func parsedDefault<Value>(_ parse: (String) -> Value?) -> Value {
        guard let text = defaultValue, let value = parse(text) else { preconditionFailure("the default of \(env) does not parse") }
        return value
    }
}
