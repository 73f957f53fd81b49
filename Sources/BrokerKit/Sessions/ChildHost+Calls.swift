/// A call on a user child that may outlive its HTTP request (a parked MRTR call): the host ends
/// it when its client's access is revoked, and may hand it a server→client request the bridge
/// could not attribute.
public protocol UserChildCall: AnyObject, Sendable {
    nonisolated var clientID: String { get }
    /// Takes a server→client request the bridge could not attribute; false when the call cannot
    /// take it now (it stopped reading), and the host then refuses the request to the child.
    func inject(_ message: [UInt8]) async -> Bool
    /// Cancels the call on the child and frees its lease, parked or not.
    func abandon(reason: String) async
}

struct RunningCall: Sendable {
    let call: any UserChildCall
    /// Declared a capability the child may need (it can answer elicitation/sampling/roots).
    var takesInput: Bool
}

/// What the user child says that belongs to no call, and the calls running on it.
extension ChildHost {
    /// Registers a call on the user child `lease` holds, before its request is sent: a
    /// server→client request the child sends at once can then never find it unregistered.
    public func register(_ call: any UserChildCall, on lease: ChildLease, takesInput: Bool) {
        calls[lease.serial, default: [:]][ObjectIdentifier(call)] = RunningCall(call: call, takesInput: takesInput)
    }

    /// The call's request was answered or abandoned, or it is parked (no longer reading).
    public func withdraw(_ call: any UserChildCall, from lease: ChildLease) {
        calls[lease.serial]?[ObjectIdentifier(call)] = nil
        if calls[lease.serial]?.isEmpty == true { calls[lease.serial] = nil }
    }

    /// A revoked client's calls on the user child end; other clients' calls go on.
    func abandonCalls(onChild serial: Int, clientID: String, reason: String) async {
        let revoked = (calls[serial] ?? [:]).filter { $0.value.call.clientID == clientID }
        for (id, running) in revoked {
            calls[serial]?[id] = nil
            await running.call.abandon(reason: reason)
        }
    }

    /// A session's unsolicited messages go to its GET stream. A user child's change
    /// notifications go to the user's listeners; its server→client request goes to the only
    /// call able to take input, or is refused (the bridge attributes a request to a call when
    /// exactly one is pending, and refuses one that calls of several clients could own; this is
    /// the case of several calls of one client, or none). A call of another client running on
    /// the child (e.g. on a replaced process still draining) makes it ambiguous too: one
    /// client is never asked for input another client's tool wants.
    func unattributed(_ bytes: [UInt8], from child: HostedChild) async {
        guard case .user(let userID) = child.key, let entry = entries[child.key], entry.child === child else {
            if case .session = child.key { await child.serverStream.publish(bytes) }
            return
        }
        guard let message = try? JSONRPCMessage(bytes) else { return }
        guard message.kind == .request else {
            publishChange(message, userID: userID)
            return
        }
        let running = (calls[entry.serial] ?? [:]).values
        let candidates = running.filter(\.takesInput)
        // The candidate may stop reading between the lookup and the injection.
        if candidates.count == 1, let candidate = candidates.first,
            running.allSatisfy({ $0.call.clientID == candidate.call.clientID }), await candidate.call.inject(bytes)
        {
            return
        }
        await child.refuse(message)
    }
}

/// The failed-call signal of upstream truth: a call that ends in an error may be Forgejo
/// rejecting the child's token, so the user's token is doubted (and checked by the probe).
extension ChildHost {
    /// Watches a child's answers for `userID`. Runs on the child's stdout path for every answer,
    /// so a successful one costs only a search of bytes already in cache.
    nonisolated static func failureObserver(userID: Int64, doubts: any UpstreamDoubts) -> @Sendable (JSONRPCMessage) -> Void {
        { answer in
            if ChildAnswer.endedInError(answer) { doubts.callFailed(userID: userID) }
        }
    }
}
