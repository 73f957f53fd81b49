extension HostedChild {
    /// Sends a request whose side messages nobody reads (a 2025-03-26 batch has no stream for
    /// them): only its answer is kept (`AnswerOnlySink`), so a chatty child cannot grow memory
    /// while the batch waits for another request's answer.
    func sendForAnswer(_ request: JSONRPCMessage) async throws(BridgeError) -> SessionCall {
        let (events, continuation) = AsyncStream<BridgeEvent>.makeStream()
        let ticket = try await send(request, into: AnswerOnlySink(continuation: continuation))
        return SessionCall(ticket: ticket, events: events)
    }
}
