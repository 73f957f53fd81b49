import Foundation

/// Bounds what unauthenticated `/oauth/authorize` requests can make the broker fetch:
/// - one fetch per document URL at a time, its outcome shared by every request that asked for
///   it meanwhile (single flight);
/// - a failed URL is answered from memory for a short while (negative cache, bounded, least
///   recently used entries forgotten first);
/// - at most `maxConcurrent` fetches at once, counting a fetch until its work has really ended
///   (a resolver thread that outlives the deadline still holds its slot); beyond that the
///   request fails at once with ``MetadataDocumentError/busy`` instead of queueing;
/// - every waiter is answered by the fetch deadline, even if the work is still unwinding;
/// - a waiter whose task is cancelled (its browser went away) leaves at once, and when the last
///   one has left the fetch itself is cancelled.
actor MetadataDocumentFlights {
    typealias Outcome = Result<ClientRecord, ClientDirectory.Failure>

    struct Limits: Sendable {
        var maxConcurrent = 16
        var failureTTL: Duration = .seconds(60)
        var maxRememberedFailures = 10_000
    }

    private struct Flight {
        let serial: Int
        var waiters: [Int: CheckedContinuation<Outcome, Never>]
        let timer: Task<Void, Never>
        var work: Task<Void, Never>?
    }

    private let limits: Limits
    private let deadline: Duration
    private let work: @Sendable (String) async -> Outcome
    private var flights: [String: Flight] = [:]
    private var running = 0
    private var serial = 0
    private var waiterSerial = 0
    private var failures: LRUCache<String, (MetadataDocumentError, ContinuousClock.Instant)>

    /// - Parameters:
    ///   - deadline: when waiters are answered `.timeout` at the latest.
    ///   - work: fetches (and stores) one document.
    init(limits: Limits, deadline: Duration, work: @escaping @Sendable (String) async -> Outcome) {
        self.limits = limits
        self.deadline = deadline
        self.work = work
        failures = LRUCache(capacity: limits.maxRememberedFailures)
    }

    /// Number of fetches whose work has not ended yet (for tests and metrics).
    var activeFetches: Int { running }

    func load(_ url: String) async -> Outcome {
        if let (error, until) = failures.value(forKey: url) {
            if until > .now { return .failure(.document(error)) }
            failures.removeValue(forKey: url)
        }
        waiterSerial += 1
        let waiter = waiterSerial
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                join(url, waiter: waiter, continuation)
            }
        } onCancel: {
            Task { await self.leave(url, waiter: waiter) }
        }
    }

    private func join(_ url: String, waiter: Int, _ continuation: CheckedContinuation<Outcome, Never>) {
        if Task.isCancelled {
            continuation.resume(returning: .failure(.document(.abandoned)))
            return
        }
        if flights[url] != nil {
            flights[url]?.waiters[waiter] = continuation
            return
        }
        guard running < limits.maxConcurrent else {
            continuation.resume(returning: .failure(.document(.busy)))
            return
        }
        running += 1
        serial += 1
        let serial = self.serial
        let deadline = self.deadline
        let timer = Task {
            // A little after the fetch's own deadline, so its own timeout answer normally wins.
            try? await Task.sleep(for: deadline + .milliseconds(250))
            guard !Task.isCancelled else { return }
            self.answer(url, serial: serial, with: .failure(.document(.timeout)))
        }
        flights[url] = Flight(serial: serial, waiters: [waiter: continuation], timer: timer)
        let work = self.work
        flights[url]?.work = Task {
            let outcome = await work(url)
            self.workEnded(url, serial: serial, with: outcome)
        }
    }

    /// A waiter went away: it is answered now; the last one to leave cancels the fetch.
    private func leave(_ url: String, waiter: Int) {
        guard let continuation = flights[url]?.waiters.removeValue(forKey: waiter) else { return }
        continuation.resume(returning: .failure(.document(.abandoned)))
        guard let flight = flights[url], flight.waiters.isEmpty else { return }
        flights[url] = nil
        flight.timer.cancel()
        flight.work?.cancel()
    }

    private func workEnded(_ url: String, serial: Int, with outcome: Outcome) {
        running -= 1
        answer(url, serial: serial, with: outcome)
    }

    /// Answers the flight's waiters once; a later answer for the same flight is ignored.
    private func answer(_ url: String, serial: Int, with outcome: Outcome) {
        guard let flight = flights[url], flight.serial == serial else { return }
        flights[url] = nil
        flight.timer.cancel()
        if case .failure(.document(let error)) = outcome, error != .busy {
            failures.set((error, .now + limits.failureTTL), forKey: url)
        }
        for waiter in flight.waiters.values { waiter.resume(returning: outcome) }
    }
}
