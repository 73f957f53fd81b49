import Foundation
import Synchronization

/// Keeps a session busy from several tasks (`tools/call` echo, and whoami when asked) and
/// records every request that did not succeed, with why.
final class TokenLifecycleLoad: Sendable {
    private struct State {
        var succeeded = 0
        var failures: [String] = []
        /// Requests sent and not yet answered: id → (tool, when sent), for a hang's diagnostics.
        var inFlight: [Int: (tool: String, sent: ContinuousClock.Instant)] = [:]
    }

    /// Each request's bound: a request that hangs is a failure with its id, not a stuck test.
    let requestTimeout: Duration

    private let state = Mutex(State())
    private let tasks: Mutex<[Task<Void, Never>]> = Mutex([])
    private let nextID = Atomic<Int>(1000)
    /// Loops finish their current request and leave, so no request is cut off by the test.
    private let stopping = Atomic<Bool>(false)

    var succeeded: Int { state.withLock { $0.succeeded } }
    var failures: [String] { state.withLock { $0.failures } }

    init(requestTimeout: Duration = .seconds(15)) {
        self.requestTimeout = requestTimeout
    }

    /// The requests still waiting for an answer, oldest first (diagnostics).
    var pending: String {
        let now = ContinuousClock.now
        return state.withLock { state in
            state.inFlight.sorted { $0.value.sent < $1.value.sent }
                .map { "id \($0.key) \($0.value.tool) waiting \(now - $0.value.sent)" }.joined(separator: "; ")
        }
    }

    /// Starts `workers` loops over `client` until `stop`.
    func start(_ client: MCPTestClient, workers: Int, includeWhoami: Bool) {
        let started = (0..<workers).map { worker in
            Task {
                while !stopping.load(ordering: .relaxed) {
                    let id = nextID.add(1, ordering: .relaxed).newValue
                    let useWhoami = includeWhoami && worker % 2 == 1
                    let tool = useWhoami ? "whoami" : "echo"
                    state.withLock { $0.inFlight[id] = (tool, .now) }
                    do {
                        let reply = try await withDeadline(requestTimeout, "load request \(id) (\(tool))") {
                            useWhoami
                                ? try await client.tool(id: id, "whoami")
                                : try await client.tool(id: id, "echo", ["text": "load \(id)"])
                        }
                        record(reply)
                    } catch {
                        state.withLock { $0.failures.append("request \(id) (\(tool)): \(error)") }
                    }
                    state.withLock { _ = $0.inFlight.removeValue(forKey: id) }
                }
            }
        }
        tasks.withLock { $0 += started }
    }

    private func record(_ reply: MCPReply) {
        let failed = reply.status != 200 || reply.error != nil || (reply.result?["isError"] as? Bool) == true
        state.withLock { state in
            if failed {
                state.failures.append("HTTP \(reply.status): \(reply.body.prefix(200))")
            } else {
                state.succeeded += 1
            }
        }
    }

    func stop() async {
        let running = tasks.withLock { tasks in
            defer { tasks.removeAll() }
            return tasks
        }
        stopping.store(true, ordering: .relaxed)
        for task in running { await task.value }
    }
}

extension MCPTestClient {
    /// The demo child's pid and token fingerprint, or nil if the call failed.
    func whoami(id: Int = 1) async throws -> (pid: Int32, fingerprint: String)? {
        let reply = try await tool(id: id, "whoami")
        guard let structured = reply.structured, let pid = structured["pid"] as? Int,
            let fingerprint = structured["tokenFingerprint"] as? String
        else { return nil }
        return (Int32(pid), fingerprint)
    }
}
