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
    /// Wraps the command in `setpriv --pdeathsig KILL` so a SIGKILLed broker leaves no orphan
    /// (a sandboxed child gets bwrap's `--die-with-parent` instead).
    public var parentDeathSignal: Bool
    /// Runs the child confined by bubblewrap; nil runs it as a plain process.
    public var sandbox: ChildSandbox?
    /// Values that never reach the broker's log from the child's stderr: the child's own token
    /// and any other credential the broker gave it (see `ChildStderrRedactor`).
    public var redactions: [String]

    public static let defaultMaxLineBytes = 16 << 20

    public init(
        executable: String,
        arguments: [String] = [],
        environment: [String: String] = ["PATH": ChildEnvironment.defaultPath],
        maxLineBytes: Int = ChildSpec.defaultMaxLineBytes,
        stopGrace: Duration = .seconds(2),
        stderrRateLimit: LogRateLimit = .init(burst: 50, perSecond: 20),
        parentDeathSignal: Bool = true,
        sandbox: ChildSandbox? = nil,
        redactions: [String] = []
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.maxLineBytes = maxLineBytes
        self.stopGrace = stopGrace
        self.stderrRateLimit = stderrRateLimit
        self.parentDeathSignal = parentDeathSignal
        self.sandbox = sandbox
        self.redactions = redactions
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
        self.init(executable: words[0], arguments: Array(words.dropFirst()), environment: environment,
                  redactions: ChildStderrRedactor.secrets(in: environment, credentials: [forgejoToken]))
    }

    public var description: String {
        "ChildSpec(\(([executable] + arguments).joined(separator: " ")), env: \(environment.keys.sorted()))"
    }
}
