import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore

@main
struct FJMCPBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fjmcp-bench",
        abstract: "Load generator for fjmcp-broker: MCP over stdio (the physical limit) or Streamable HTTP.",
        discussion: "Latency is measured per request around the request itself (no coordinated-omission correction). Runs are bounded by --calls and --seconds. The generator shares the machine's cores with what it measures.",
        subcommands: [Stdio.self, HTTP.self, Sessions.self, Auth.self]
    )
}

struct LoadOptions: ParsableArguments {
    @Option(help: "Concurrent workers (outstanding requests).") var concurrency = 1
    @Option(help: "Stop after this many measured calls.") var calls = 20_000
    @Option(help: "Stop after this many seconds.") var seconds = 20.0
    @Option(help: "Unmeasured calls before the run.") var warmup = 500
    @Option(help: "echo (tools/call echo) or list (tools/list).") var method = "echo"
    @Option(help: "Label of the result row.") var label: String?
    @Option(help: "Write the JSON result here ('-' = stdout).") var json: String?
}

// MARK: - stdio

struct Stdio: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Spawn the child directly and drive it over stdio.")

    @Option(help: "Child command line (run by /bin/sh).") var child: String
    @Option(help: "Also measure this many cold starts (spawn → initialize answer).") var starts = 0
    @OptionGroup var load: LoadOptions

    func run() async throws {
        var startup: [Double] = []
        for _ in 0..<starts {
            let began = ContinuousClock.now
            let child = try StdioChild(command: self.child)
            guard let answer = await child.request(method: "initialize", params: Payload.initializeParams), Payload.isResult(answer) else {
                throw BenchError("the child did not answer initialize")
            }
            startup.append((ContinuousClock.now - began).seconds * 1000)
            child.close()
        }
        let child = try StdioChild(command: self.child)
        defer { child.terminate() }
        guard let answer = await child.request(method: "initialize", params: Payload.initializeParams), Payload.isResult(answer) else {
            throw BenchError("the child did not answer initialize")
        }
        child.notify(method: "notifications/initialized")
        let (method, params) = Payload.method(load.method)
        let warm = RunBudget(calls: load.warmup, seconds: 30)
        _ = await runWorkers(concurrency: load.concurrency, budget: warm) { _ in
            await child.request(method: method, params: params).map(Payload.isResult) ?? false
        }
        let budget = RunBudget(calls: load.calls, seconds: load.seconds)
        let (recorder, elapsed) = await runWorkers(concurrency: load.concurrency, budget: budget) { _ in
            await child.request(method: method, params: params).map(Payload.isResult) ?? false
        }
        var result = RunResult(label: load.label ?? "stdio", mode: "stdio", method: load.method, sessions: 1,
                               concurrency: load.concurrency, recorder: recorder, elapsed: elapsed)
        if !startup.isEmpty {
            startup.sort()
            result.extra["childStartP50Ms"] = startup[startup.count / 2]
            result.extra["childStartMinMs"] = startup[0]
            result.extra["childStartMaxMs"] = startup[startup.count - 1]
            result.extra["childStarts"] = Double(startup.count)
        }
        if let status = ProcStatus.read(pid: child.process.processIdentifier) {
            result.extra["childRssKB"] = Double(status.rssKB)
        }
        log(result.line)
        try emit(result, to: load.json)
    }
}

// MARK: - http

struct HTTP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Drive an MCP Streamable HTTP endpoint (broker or proxy).")

    @Option(help: "MCP endpoint URL.") var url: String
    @Option(help: "Bearer token.") var token: String?
    @Option(help: "Sessions to open (initialize); worker i uses session i % sessions.") var sessions = 1
    @Flag(help: "DELETE the sessions at the end.") var close = false
    @OptionGroup var load: LoadOptions

    func run() async throws {
        let client = MCPHTTP.makeClient(connections: load.concurrency)
        let mcp = MCPHTTP(client: client, url: url, token: token)
        do {
            try await measure(mcp)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    private func measure(_ mcp: MCPHTTP) async throws {
        var ids: [String?] = []
        let opening = ContinuousClock.now
        for _ in 0..<sessions { ids.append(try await mcp.openSession()) }
        let openMs = (ContinuousClock.now - opening).seconds * 1000 / Double(max(1, sessions))
        let sessionIDs = ids
        let (method, params) = Payload.method(load.method)
        let source = IDSource()
        let call: @Sendable (Int) async -> Bool = { worker in
            let session = sessionIDs[worker % sessionIDs.count]
            let body = #"{"jsonrpc":"2.0","id":\#(source.take()),"method":"\#(method)","params":\#(params)}"#
            return (try? await mcp.post(body, session: session).isResult) ?? false
        }
        _ = await runWorkers(concurrency: load.concurrency, budget: RunBudget(calls: load.warmup, seconds: 30), call)
        let (recorder, elapsed) = await runWorkers(concurrency: load.concurrency, budget: RunBudget(calls: load.calls, seconds: load.seconds), call)
        var result = RunResult(label: load.label ?? "http", mode: "http", method: load.method, sessions: sessions,
                               concurrency: load.concurrency, recorder: recorder, elapsed: elapsed)
        result.extra["sessionOpenMeanMs"] = openMs
        if close {
            for case let id? in sessionIDs { await mcp.closeSession(id) }
        }
        log(result.line)
        try emit(result, to: load.json)
    }
}

// MARK: - sessions (scale)

struct Sessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open idle sessions one by one; creation latency, and the broker's RSS at each checkpoint.")

    @Option(help: "MCP endpoint URL.") var url: String
    @Option(help: "Bearer token.") var token: String?
    @Option(help: "Broker process id (its /proc/PID/status is read).") var pid: Int32
    @Option(help: "Checkpoints: total idle sessions at which RSS is read.") var counts = "0,100,500,1000"
    @Option(help: "Seconds to let the broker settle before each reading.") var settle = 2.0
    @Option(help: "Give up after this many seconds.") var seconds = 300.0
    @Option(help: "Write the JSON result here ('-' = stdout).") var json: String?
    @Flag(help: "Send one tools/call on each session right after opening it (its child starts then; timed apart), so the checkpoints count sessions with a child.")
    var callEach = false

    struct Checkpoint: Codable {
        var sessions: Int
        var rssKB: Int
        var threads: Int
        var fds: Int
        var children: Int
        var perSessionKB: Double?
    }

    struct Output: Codable {
        var checkpoints: [Checkpoint]
        var creation: RunResult
        /// With `--call-each`: each session's first tools/call, which starts its child.
        var firstCall: RunResult?
        var heldCalls: Int
        var heldOK: Int
        var reached: Int
        var error: String?
    }

    func run() async throws {
        let targets = counts.split(separator: ",").compactMap { Int($0) }.sorted()
        let client = MCPHTTP.makeClient(connections: 50)
        let mcp = MCPHTTP(client: client, url: url, token: token)
        var ids: [String] = []
        var checkpoints: [Checkpoint] = []
        var recorder = LatencyRecorder()
        var firstCalls = LatencyRecorder()
        var firstCallTime = Duration.zero
        var failure: String?
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + .seconds(seconds)
        var creationTime = Duration.zero
        outer: for target in targets {
            while ids.count < target {
                if clock.now > deadline { failure = "time limit reached at \(ids.count) sessions"; break outer }
                let began = clock.now
                do {
                    guard let id = try await mcp.openSession() else { throw BenchError("no Mcp-Session-Id") }
                    let took = clock.now - began
                    creationTime += took
                    recorder.record(nanoseconds: took.nanoseconds)
                    ids.append(id)
                    if callEach {
                        let body = #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":\#(Payload.echoParams)}"#
                        let called = clock.now
                        guard try await mcp.post(body, session: id).isResult else { throw BenchError("the first tools/call failed") }
                        let took = clock.now - called
                        firstCallTime += took
                        firstCalls.record(nanoseconds: took.nanoseconds)
                    }
                } catch {
                    failure = "session \(ids.count + 1): \(error)"
                    break outer
                }
            }
            try? await Task.sleep(for: .seconds(settle))
            guard let status = ProcStatus.read(pid: pid) else { throw BenchError("cannot read /proc/\(pid)/status") }
            let base = checkpoints.first
            let per = base.flatMap { base in ids.count > base.sessions ? Double(status.rssKB - base.rssKB) / Double(ids.count - base.sessions) : nil }
            let point = Checkpoint(sessions: ids.count, rssKB: status.rssKB, threads: status.threads, fds: status.fds,
                                   children: Self.childCount(of: pid), perSessionKB: per)
            checkpoints.append(point)
            log(String(format: "sessions %5d  broker RSS %8d KB  threads %4d  fds %5d  children %5d  per session %@",
                       point.sessions, point.rssKB, point.threads, point.fds, point.children,
                       per.map { String(format: "%.1f KB", $0) } ?? "-"))
        }
        // Held: every session still answers a tools/call.
        let allIDs = ids
        let source = IDSource()
        let cursor = RunBudget(calls: allIDs.count, seconds: 120)
        let indexSource = IDSource()
        let (held, _) = await runWorkers(concurrency: min(50, max(1, allIDs.count)), budget: cursor) { _ in
            let index = indexSource.take() - 2
            let body = #"{"jsonrpc":"2.0","id":\#(source.take()),"method":"tools/call","params":\#(Payload.echoParams)}"#
            return (try? await mcp.post(body, session: allIDs[index % allIDs.count]).isResult) ?? false
        }
        log("held: \(held.histogram.totalCount) of \(allIDs.count) sessions answered tools/call (\(held.errors) failed)")
        let creation = RunResult(label: "session-create", mode: "http", method: "initialize", sessions: ids.count, concurrency: 1,
                                 recorder: recorder, elapsed: creationTime)
        log(creation.line)
        let firstCall = callEach
            ? RunResult(label: "session-first-call", mode: "http", method: "tools/call", sessions: ids.count, concurrency: 1,
                        recorder: firstCalls, elapsed: firstCallTime)
            : nil
        if let firstCall { log(firstCall.line) }
        let closing = RunBudget(calls: allIDs.count, seconds: 120)
        let closeIndex = IDSource()
        _ = await runWorkers(concurrency: 20, budget: closing) { _ in
            await mcp.closeSession(allIDs[(closeIndex.take() - 2) % max(1, allIDs.count)])
            return true
        }
        try await client.shutdown()
        if let failure { log("stopped: \(failure)") }
        try emit(Output(checkpoints: checkpoints, creation: creation, firstCall: firstCall, heldCalls: allIDs.count,
                        heldOK: Int(held.histogram.totalCount), reached: ids.count, error: failure), to: json)
    }

    static func childCount(of pid: Int32) -> Int {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return -1 }
        var count = 0
        for entry in entries where entry.first?.isNumber == true {
            guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == pid { count += 1 }
        }
        return count
    }
}

// MARK: - auth

struct Auth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bearer validation cost on /mcp (401 vs authenticated trivial request) and refresh-grant rate.")

    @Option(help: "MCP endpoint URL.") var url: String
    @Option(help: "A valid bearer token.") var token: String
    @Option(help: "Token endpoint URL (refresh grant); skipped when absent.") var tokenURL: String?
    @Option(help: "Public client id owning the refresh tokens.") var clientID: String?
    @Option(help: "Comma-separated refresh tokens, one rotation chain (worker) each.") var refreshTokens = ""
    @Option(help: "Resource indicator sent with the refresh grant.") var resource: String?
    @Flag(help: "Send a distinct X-Forwarded-For per refresh so the per-address rate limiter (trusted loopback proxy) does not throttle.")
    var spreadAddresses = false
    @Option var concurrency = 8
    @Option var calls = 20_000
    @Option var refreshCalls = 2_000
    @Option var seconds = 10.0
    @Option(help: "Write the JSON results here ('-' = stdout).") var json: String?

    func run() async throws {
        let client = MCPHTTP.makeClient(connections: concurrency)
        let mcp = MCPHTTP(client: client, url: url, token: token)
        var results: [RunResult] = []
        let trivial = #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#
        let cases: [(String, String?, UInt)] = [
            ("mcp-401-no-token", "", 401),
            ("mcp-401-unknown-token", "Bearer fjmcp_at_bench_unknown_token_value_0123456789abcdef", 401),
            ("mcp-400-valid-token", nil, 400),
        ]
        for (label, authorization, expected) in cases {
            let call: @Sendable (Int) async -> Bool = { _ in
                let reply: MCPHTTP.Reply?
                if authorization == "" {
                    reply = try? await MCPHTTP(client: client, url: url, token: nil).post(trivial, session: nil)
                } else {
                    reply = try? await mcp.post(trivial, session: nil, authorization: authorization)
                }
                return reply?.status == expected
            }
            _ = await runWorkers(concurrency: concurrency, budget: RunBudget(calls: 500, seconds: 10), call)
            let (recorder, elapsed) = await runWorkers(concurrency: concurrency, budget: RunBudget(calls: calls, seconds: seconds), call)
            let result = RunResult(label: label, mode: "auth", method: "POST /mcp", sessions: 0, concurrency: concurrency,
                                   recorder: recorder, elapsed: elapsed)
            log(result.line)
            results.append(result)
        }
        let chains = refreshTokens.split(separator: ",").map(String.init)
        if let tokenURL, let clientID, !chains.isEmpty {
            let state = RefreshChains(chains)
            let spread = spreadAddresses
            let resource = resource
            let call: @Sendable (Int) async -> Bool = { worker in
                var request = HTTPClientRequest(url: tokenURL)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                if spread { request.headers.add(name: "X-Forwarded-For", value: state.address()) }
                var form = "grant_type=refresh_token&client_id=\(Self.encode(clientID))&refresh_token=\(Self.encode(state.token(worker)))"
                if let resource { form += "&resource=\(Self.encode(resource))" }
                request.body = .bytes(ByteBuffer(string: form))
                guard let response = try? await client.execute(request, timeout: .seconds(30)),
                      let body = try? await response.body.collect(upTo: 1 << 20), response.status == .ok,
                      let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
                      let next = object["refresh_token"] as? String else { return false }
                state.set(worker, next)
                return true
            }
            let (recorder, elapsed) = await runWorkers(concurrency: chains.count, budget: RunBudget(calls: refreshCalls, seconds: seconds), call)
            let result = RunResult(label: "token-refresh", mode: "auth", method: "POST /oauth/token", sessions: 0,
                                   concurrency: chains.count, recorder: recorder, elapsed: elapsed)
            log(result.line)
            results.append(result)
        }
        try await client.shutdown()
        try emit(results, to: json)
    }

    static func encode(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? value
    }
}

/// The current refresh token of each rotation chain, and a source of distinct client addresses.
final class RefreshChains: @unchecked Sendable {
    private let lock = NSLock()
    private var tokens: [String]
    private var counter = 0

    init(_ tokens: [String]) { self.tokens = tokens }

    func token(_ index: Int) -> String {
        lock.lock()
        defer { lock.unlock() }
        return tokens[index]
    }

    func set(_ index: Int, _ value: String) {
        lock.lock()
        tokens[index] = value
        lock.unlock()
    }

    func address() -> String {
        lock.lock()
        counter += 1
        let n = counter
        lock.unlock()
        return "10.\((n >> 16) & 255).\((n >> 8) & 255).\(n & 255)"
    }
}
