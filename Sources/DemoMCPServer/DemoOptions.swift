import Foundation

/// Behaviour switches. They are also read from `DEMO_MCP_OPTIONS` so that a broker, which only
/// controls the child's environment and command line, can pass them through either channel.
struct DemoOptions: Sendable {
    var url: String?
    var token: String?
    var slowStartMilliseconds = 0
    var noisyStderr = false
    var oversizedLineBytes: Int?
    var garbageStdout = false
    var ignoreSigterm = false
    var noForgejoCheck = false
    /// Offers resources with subscriptions and a `notify` tool that makes the server send change
    /// notifications (for the broker's `subscriptions/listen`); off by default so the default
    /// tool list and capabilities stay what the other tests expect.
    var notifyTool = false
    /// Lists a `stats` tool that reports how many tool calls this process finished and how many
    /// were cancelled, so a test can tell that every abandoned call reached the child as a
    /// cancellation (test-only; off by default).
    var statsTool = false
    /// Tests only: lists `sandbox_probe`, which tries to read what a sandboxed child must not
    /// (`DEMO_PROBE_TARGETS`, colon-separated paths, plus `--probe-target PATH`).
    var sandboxProbe = false
    var probeTargets: [String] = []
    /// Tests only: writes its Forgejo token to stderr at start, as a careless child might.
    var leakTokenToStderr = false
    /// Tests only: lists `flood`, which writes notifications as fast as the pipe takes them (the
    /// broker's bounds on what it buffers for a slow client).
    var floodTool = false
    /// Tests only: one message at a time, the next line read only once the last one is answered,
    /// as a single-threaded server does; its stdin is not read while e.g. `sleep` runs (the
    /// broker's bound on input waiting for a busy child). A tool that asks the client hangs.
    var serial = false

    /// Whether `tool` is listed and callable: the test-only ones only with their flag.
    func offers(_ tool: DemoTools.Name) -> Bool {
        switch tool {
        case .notify: notifyTool
        case .stats: statsTool
        case .sandboxProbe: sandboxProbe
        case .flood: floodTool
        case .whoami, .echo, .sleep, .progress, .ask, .crash: true
        }
    }

    struct UsageError: Error, CustomStringConvertible {
        let description: String
    }

    static func parse(arguments: [String], environment: [String: String]) throws(UsageError) -> DemoOptions {
        var options = DemoOptions()
        options.url = environment["FORGEJO_URL"]
        options.token = environment["FORGEJO_ACCESS_TOKEN"]
        options.probeTargets = (environment["DEMO_PROBE_TARGETS"] ?? "").split(separator: ":").map(String.init)
        let fromEnvironment = (environment["DEMO_MCP_OPTIONS"] ?? "").split(whereSeparator: \.isWhitespace).map(String.init)
        try options.apply(fromEnvironment)
        try options.apply(arguments)
        return options
    }

    private mutating func apply(_ words: [String]) throws(UsageError) {
        var index = 0
        func value(for flag: String) throws(UsageError) -> String {
            index += 1
            guard index < words.count else { throw UsageError(description: "\(flag) needs a value") }
            return words[index]
        }
        func number(for flag: String) throws(UsageError) -> Int {
            let text = try value(for: flag)
            guard let number = Int(text), number >= 0 else {
                throw UsageError(description: "\(flag) needs a non-negative integer, got '\(text)'")
            }
            return number
        }
        while index < words.count {
            let flag = words[index]
            switch flag {
            case "--url": url = try value(for: flag)
            case "--token": token = try value(for: flag)
            case "--slow-start": slowStartMilliseconds = try number(for: flag)
            case "--noisy-stderr": noisyStderr = true
            case "--oversized-line": oversizedLineBytes = try number(for: flag)
            case "--garbage-stdout": garbageStdout = true
            case "--ignore-sigterm": ignoreSigterm = true
            case "--no-forgejo-check": noForgejoCheck = true
            case "--notify": notifyTool = true
            case "--stats": statsTool = true
            case "--sandbox-probe": sandboxProbe = true
            case "--probe-target": probeTargets.append(try value(for: flag))
            case "--leak-token-to-stderr": leakTokenToStderr = true
            case "--flood": floodTool = true
            case "--serial": serial = true
            default: throw UsageError(description: "unknown option '\(flag)'")
            }
            index += 1
        }
    }
}
