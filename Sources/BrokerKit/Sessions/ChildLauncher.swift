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
    /// The sandbox every child runs in, nil for none; a failure when `FJMCP_CHILD_SANDBOX=on`
    /// and the sandbox does not work here (then no child starts unconfined).
    public let sandbox: Result<ChildSandbox?, ChildError>
    /// Kept out of every child's view (database, secret key, admin socket).
    let dataDirectory: String

    public init(config: BrokerConfig, brokerEnvironment: [String: String] = ProcessInfo.processInfo.environment) {
        commandLine = config.child.command
        forgejoURL = config.forgejo.baseURL
        tokenVariable = config.child.tokenEnv
        urlVariable = config.child.urlEnv
        extraEnvironment = config.child.extraEnv
        stopGrace = config.child.stopGrace
        self.brokerEnvironment = brokerEnvironment
        dataDirectory = config.dataDirectory
        sandbox = Self.sandbox(mode: config.child.sandbox, helper: config.child.sandboxHelper)
    }

    /// What `mode` means here (the probe runs once per process; `Broker` reports it at start).
    public static func sandbox(mode: ChildSandboxMode, helper: String?) -> Result<ChildSandbox?, ChildError> {
        switch (mode, mode == .off ? nil : ChildSandbox.availability(helperPath: helper)) {
        case (.off, _), (_, nil): .success(nil)
        case (_, .available(let sandbox)?): .success(sandbox)
        case (.auto, .unavailable?): .success(nil)
        case (.on, .unavailable(let reason)?): .failure(.spawnFailed(reason))
        }
    }

    public func spec(token: String) throws(ChildError) -> ChildSpec {
        var spec = try ChildSpec(
            commandLine: commandLine, forgejoURL: forgejoURL, forgejoToken: token, tokenVariable: tokenVariable,
            urlVariable: urlVariable, extraEnvironment: extraEnvironment, brokerEnvironment: brokerEnvironment)
        spec.stopGrace = stopGrace
        spec.sandbox = try sandbox.get().map { sandbox in
            var confined = sandbox
            confined.hiddenPaths = [dataDirectory]
            return confined
        }
        return spec
    }
}
