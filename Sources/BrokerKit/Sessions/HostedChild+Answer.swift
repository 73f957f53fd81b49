extension HostedChild {
    /// Sends a request whose side messages nobody reads (a 2025-03-26 batch has no stream for
    /// them): only its answer is kept (`AnswerOnlySink`), so a chatty child cannot grow memory
    /// while the batch waits for another request's answer; `budget` bounds the answers the
    /// batch holds together.
    func sendForAnswer(_ request: JSONRPCMessage, budget: BufferBudget) async throws(BridgeError) -> SessionCall {
        let (events, continuation) = AsyncStream<BridgeEvent>.makeStream()
        let sink = AnswerOnlySink(continuation: continuation, budget: budget, rawID: request.rawID ?? Array("null".utf8))
        let ticket = try await send(request, into: sink)
        return SessionCall(ticket: ticket, events: events)
    }
}
