import Foundation

/// Turns the configured child command and a user's Forgejo token into a `ChildSpec`. The
/// broker's environment is consulted only for the names the operator listed as pass-through.
public struct ChildLauncher: Sendable {
    public let commandLine: String
    public let forgejoURL: String
    public let tokenVariable: String
    public let urlVariable: String
    public let extraEnvironment: [String]
    public let stopGrace: Duration
    public let brokerEnvironment: [String: String]

    public init(config: BrokerConfig, brokerEnvironment: [String: String] = ProcessInfo.processInfo.environment) {
        commandLine = config.child.command
        forgejoURL = config.forgejo.baseURL
        tokenVariable = config.child.tokenEnv
        urlVariable = config.child.urlEnv
        extraEnvironment = config.child.extraEnv
        stopGrace = config.child.stopGrace
        self.brokerEnvironment = brokerEnvironment
    }

    public func spec(token: String) throws(ChildError) -> ChildSpec {
        var spec = try ChildSpec(
            commandLine: commandLine, forgejoURL: forgejoURL, forgejoToken: token, tokenVariable: tokenVariable,
            urlVariable: urlVariable, extraEnvironment: extraEnvironment, brokerEnvironment: brokerEnvironment)
        spec.stopGrace = stopGrace
        return spec
    }
}
