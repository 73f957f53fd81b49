/// Everything needed to start one child. Holds the Forgejo token (in `environment`), so its
/// description lists variable names only.
public struct ChildSpec: Sendable, CustomStringConvertible {
    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]
    /// A stdout line longer than this kills the child: it bounds the broker's memory per child.
    public var maxLineBytes: Int
    /// How long each shutdown step (stdin EOF, then SIGTERM) may take before the next one.
    public var stopGrace: Duration
    public var stderrRateLimit: LogRateLimit
    /// Wraps the command in `setpriv --pdeathsig KILL` so a SIGKILLed broker leaves no orphan.
    public var parentDeathSignal: Bool

    public static let defaultMaxLineBytes = 16 << 20

    public init(
        executable: String,
        arguments: [String] = [],
        environment: [String: String] = ["PATH": ChildEnvironment.defaultPath],
        maxLineBytes: Int = ChildSpec.defaultMaxLineBytes,
        stopGrace: Duration = .seconds(2),
        stderrRateLimit: LogRateLimit = .init(burst: 50, perSecond: 20),
        parentDeathSignal: Bool = true
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.maxLineBytes = maxLineBytes
        self.stopGrace = stopGrace
        self.stderrRateLimit = stderrRateLimit
        self.parentDeathSignal = parentDeathSignal
    }

    /// The spec for one session's forgejo-mcp (or compatible) child.
    public init(
        commandLine: String,
        forgejoURL: String,
        forgejoToken: String,
        tokenVariable: String = "FORGEJO_ACCESS_TOKEN",
        urlVariable: String = "FORGEJO_URL",
        extraEnvironment: [String] = [],
        brokerEnvironment: [String: String]
    ) throws(ChildError) {
        let words = try ChildCommandLine.split(commandLine)
        let environment = try ChildEnvironment.build(
            extraEntries: extraEnvironment,
            credentials: [tokenVariable: forgejoToken, urlVariable: forgejoURL],
            brokerEnvironment: brokerEnvironment)
        self.init(executable: words[0], arguments: Array(words.dropFirst()), environment: environment)
    }

    public var description: String {
        "ChildSpec(\(([executable] + arguments).joined(separator: " ")), env: \(environment.keys.sorted()))"
    }
}
