/// The 2026-07-28 (stateless, "modern") wire facts the broker relies on, in one place so that
/// validation, translation and `server/discover` cannot disagree.
package enum ModernProtocol {
    package static let version = "2026-07-28"
    /// What `-32022` lists: a dual-era client that cannot speak 2026-07-28 learns it may fall
    /// back to `initialize` with one of the legacy versions this endpoint also serves.
    package static let advertisedVersions = ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"]

    package static let metaPrefix = "io.modelcontextprotocol/"
    package static let protocolVersionKey = "io.modelcontextprotocol/protocolVersion"
    package static let clientCapabilitiesKey = "io.modelcontextprotocol/clientCapabilities"
    package static let logLevelKey = "io.modelcontextprotocol/logLevel"
    package static let serverInfoKey = "io.modelcontextprotocol/serverInfo"

    /// Methods served; anything else is `404` + `-32601` (the tasks extension is not bridged).
    package static let methods: Set<String> = [
        "server/discover", "tools/list", "tools/call", "prompts/list", "prompts/get", "resources/list", "resources/read",
        "resources/templates/list", "completion/complete", "subscriptions/listen",
    ]
    package static let subscriptionIDKey = "io.modelcontextprotocol/subscriptionId"

    /// Results that must carry `ttlMs` and `cacheScope` (spec: `CacheableResult`).
    package static let cacheableMethods: Set<String> = [
        "server/discover", "tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read",
    ]

    /// The body field `Mcp-Name` mirrors, per method.
    package static let nameField: [String: String] = ["tools/call": "name", "prompts/get": "name", "resources/read": "uri"]

    /// RFC 5424 severities, least severe first, as MCP logging names them.
    package static let logLevels = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
}
