import AsyncHTTPClient
import NIOCore

extension HTTPClient {
    /// Sends `request` and reads at most `maxBytes` of the response body, the whole exchange
    /// (connection, head and body) bounded by `timeout`.
    ///
    /// AsyncHTTPClient's own deadline ends once the response head is in, so a server (or proxy)
    /// that sends headers and then stalls the body would otherwise hold the call, its connection
    /// and everyone waiting on it for ever. `inspect` sees the head before the body is read and
    /// may throw to refuse it (a redirect, a wrong status, an announced length over the limit).
    ///
    /// - Throws: `HTTPClientError.deadlineExceeded` when the bound passes, `NIOTooManyBytesError`
    ///   when the body is larger than `maxBytes`, whatever `inspect` throws, or a transport error.
    func boundedExchange(
        _ request: HTTPClientRequest, timeout: Duration, maxBytes: Int,
        inspect: (HTTPClientResponse) throws -> Void = { _ in }
    ) async throws -> (response: HTTPClientResponse, body: ByteBuffer) {
        let started = ContinuousClock.now
        let response = try await execute(request, deadline: NIODeadline.now() + TimeAmount(timeout))
        try inspect(response)
        let remaining = timeout - (ContinuousClock.now - started)
        let body = try await withThrowingTaskGroup(of: ByteBuffer.self) { group in
            group.addTask { try await response.body.collect(upTo: maxBytes) }
            group.addTask {
                try await _Concurrency.Task.sleep(for: remaining)
                throw HTTPClientError.deadlineExceeded
            }
            // Cancelling the collect cancels the request, so the group never outlives the bound.
            defer { group.cancelAll() }
            guard let body = try await group.next() else { throw HTTPClientError.deadlineExceeded }
            return body
        }
        return (response, body)
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .seconds(seconds) + .nanoseconds(attoseconds / 1_000_000_000)
    }
}
