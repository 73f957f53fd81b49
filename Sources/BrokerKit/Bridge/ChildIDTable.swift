/// The id bookkeeping for ONE child. Kept apart from the bridge so that a session swapping its
/// child can keep an old table draining while a new one takes fresh requests.
struct ChildIDTable {
    struct PendingCall {
        let origin: String
        let clientID: JSONRPCID
        let clientRawID: [UInt8]
        /// The client's own `_meta.progressToken`, restored on the way back.
        let clientProgressToken: [UInt8]?
        let events: any BridgeEventSink
    }

    private struct ClientKey: Hashable {
        let origin: String
        let id: JSONRPCID
    }

    private var nextChildID: Int64 = 1
    private(set) var pending: [Int64: PendingCall] = [:]
    private var byClient: [ClientKey: Int64] = [:]
    /// Broker-minted id of a server→client request ⇒ the child's original raw id.
    private var serverRequests: [String: [UInt8]] = [:]

    mutating func register(_ call: PendingCall) -> Int64 {
        let childID = nextChildID
        nextChildID += 1
        pending[childID] = call
        byClient[ClientKey(origin: call.origin, id: call.clientID)] = childID
        return childID
    }

    mutating func remove(_ childID: Int64) -> PendingCall? {
        guard let call = pending.removeValue(forKey: childID) else { return nil }
        let key = ClientKey(origin: call.origin, id: call.clientID)
        if byClient[key] == childID { byClient[key] = nil }
        return call
    }

    func childID(forClient id: JSONRPCID, origin: String) -> Int64? {
        byClient[ClientKey(origin: origin, id: id)]
    }

    /// The only pending request, if there is exactly one: then anything the child says belongs to it.
    var soleChildID: Int64? {
        pending.count == 1 ? pending.keys.first : nil
    }

    /// Where a server→client request of the child goes.
    enum Attribution: Equatable {
        /// The call it belongs to.
        case call(Int64)
        /// No call in particular: the session's GET stream, or the host picks one of the calls
        /// of the only client with calls pending.
        case unattributed
        /// Calls of several clients are pending and nothing says whose this is: refused to the
        /// child, never guessed (it might ask one client for another client's input).
        case ambiguous
    }

    /// The only pending call, or nothing in particular; ambiguous when calls of more than one
    /// origin (client) are pending. A request's own `_meta.progressToken` is no evidence: the
    /// child-side tokens are small integers a child may well choose for itself.
    func attribution() -> Attribution {
        if let sole = soleChildID { return .call(sole) }
        guard let origin = pending.values.first?.origin else { return .unattributed }
        return pending.values.allSatisfy { $0.origin == origin } ? .unattributed : .ambiguous
    }

    mutating func recordServerRequest(brokerID: String, childRawID: [UInt8]) {
        serverRequests[brokerID] = childRawID
    }

    mutating func takeServerRequest(brokerID: String) -> [UInt8]? {
        serverRequests.removeValue(forKey: brokerID)
    }

    mutating func removeAll() -> [PendingCall] {
        let calls = Array(pending.values)
        pending.removeAll()
        byClient.removeAll()
        serverRequests.removeAll()
        return calls
    }
}
