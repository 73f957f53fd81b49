import Foundation

/// Child calls waiting for a modern client's MRTR retry. The legacy child cannot be asked to
/// "start over with the answers", so its call stays pending across the two HTTP requests and
/// the retry's `inputResponses` answer the very request the child sent. Each parked call has a
/// deadline: when the client never retries, the call is cancelled on the child (so no child is
/// left waiting forever) and its lease on the child is released. A parked call also ends when its
/// client's access is revoked.
public actor ModernInputParking: ClientScopedWork {
    struct Parked: Sendable {
        let call: ModernCall
        /// The key of the one entry in `inputRequests`, under which the answer must come back.
        let key: String
        /// The bridge's id for the child's server→client request, answered by the retry.
        let brokerRequestID: String
        /// `{"method":…,"params":…}` as sent in `inputRequests`, for asking again.
        let inputRequest: [UInt8]
        /// The `ClientCapabilities` the input request needs (JSON), checked on the retry too.
        let required: [UInt8]
        let userID: Int64
        let clientID: String
    }

    private var parked: [String: (entry: Parked, timer: Task<Void, Never>)] = [:]
    private let states = ModernRequestState()
    /// How long a parked call waits for the retry. Short: a human answers an elicitation in
    /// minutes, and the child holds the request open all that time.
    private(set) var timeout: Duration

    init(timeout: Duration = .seconds(300)) {
        self.timeout = timeout
    }

    /// Tests shorten the wait to see expiry without sleeping for minutes.
    public func setTimeout(_ timeout: Duration) {
        self.timeout = timeout
    }

    public var parkedCount: Int { parked.count }

    /// Calls one user may have parked at once: each holds a request open on the child, so a
    /// client that never retries must not pile them up (beyond it the child's request is refused).
    static let maxPerUser = 16

    func hasRoom(userID: Int64) -> Bool {
        parked.values.count { $0.entry.userID == userID } < Self.maxPerUser
    }

    /// Parks `entry.call` and returns the sealed `requestState` for the `input_required` result.
    func park(_ entry: Parked, method: String, digest: [UInt8]) async -> String {
        await entry.call.park()
        let handle = Base64URL.encode(OpaqueToken.randomBytes(18))
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let payload = ModernRequestState.Payload(
            handle: handle, method: method, digest: Base64URL.encode(digest),
            expiresAt: Int64((Date().timeIntervalSince1970 + seconds) * 1000))
        let timeout = timeout
        let timer = Task { [weak self] in
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            await self?.expire(handle)
        }
        parked[handle] = (entry, timer)
        ModernMetrics.inputRequired(entry.inputRequestMethod)
        return states.seal(payload, userID: entry.userID, clientID: entry.clientID)
    }

    /// The parked call a retry resumes. Fails without consuming anything unless the state is
    /// genuine, current, this principal's and this request's, and the retry still declares the
    /// capability the input needs; then the handle is gone, so a replay finds nothing.
    func take(_ state: String, owner: SessionOwner, request: ModernRequest) throws(ModernRequestError.Kind) -> Parked {
        let payload: ModernRequestState.Payload
        do {
            payload = try states.open(state, userID: owner.userID, clientID: owner.clientID, method: request.method,
                                      digest: request.paramsDigest)
        } catch {
            ModernMetrics.stateRejected(error)
            throw error.kind
        }
        guard let (entry, timer) = parked[payload.handle] else {
            ModernMetrics.stateRejected(.used)
            throw ModernRequestState.Failure.used.kind
        }
        if let required = (try? JSONSerialization.jsonObject(with: Data(entry.required))) as? [String: Any],
            !request.capabilities.satisfies(required)
        {
            throw .missingCapability(entry.required)
        }
        parked[payload.handle] = nil
        timer.cancel()
        return entry
    }

    private func expire(_ handle: String) async {
        guard let (entry, _) = parked.removeValue(forKey: handle) else { return }
        ModernMetrics.inputExpired()
        await entry.call.abandon(reason: "the client did not provide the requested input in time", includingParked: true)
    }

    /// Cancels the parked calls of a user's client (every client with nil): its access is revoked.
    public func end(userID: Int64, clientID: String?) async {
        await abandon(reason: "the client's authorization was revoked") {
            $0.userID == userID && (clientID == nil || $0.clientID == clientID)
        }
    }

    /// Cancels every parked call (broker shutdown).
    public func endAll() async {
        await abandon(reason: "the broker is shutting down") { _ in true }
    }

    private func abandon(reason: String, where matches: (Parked) -> Bool) async {
        let ending = parked.filter { matches($0.value.entry) }
        for (handle, (entry, timer)) in ending {
            parked[handle] = nil
            timer.cancel()
            await entry.call.abandon(reason: reason, includingParked: true)
        }
    }
}

extension ModernInputParking.Parked {
    var inputRequestMethod: String? {
        ((try? JSONSerialization.jsonObject(with: Data(inputRequest))) as? [String: Any])?["method"] as? String
    }
}
