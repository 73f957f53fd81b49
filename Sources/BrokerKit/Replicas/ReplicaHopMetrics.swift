import Metrics

/// Telemetry of the forwarding hop between replicas: how often requests travel, and what the
/// hop adds to their latency (the cost `bench/README.md` states). Labels come from a fixed set.
enum ReplicaHopMetrics {
    enum Outcome: String, CaseIterable {
        /// Sent on to the replica holding the child, which answered (any status).
        case forwarded
        /// The holder could not be connected to (refused, connect timeout): the request waits
        /// for the holder's lapse and is served here, or is answered 503 when the holder does
        /// not lapse in time.
        case unreachable
        /// The connection broke or the holder did not answer in time after the request may have
        /// reached it: 502 or 504, never sent again nor served here (it may have run there).
        case lost
        /// Arrived through a hop and would have to travel again: 503 (one hop at most).
        case refusedOnward = "refused_onward"
        /// Carried a `Fjmcp-Replica-Hop` header that did not verify: 403.
        case invalid
    }

    private static let hops: [Outcome: Counter] = {
        BrokerMetrics.bootstrap()
        return Dictionary(uniqueKeysWithValues: Outcome.allCases.map {
            ($0, Counter(label: "fjmcp_replica_hops_total", dimensions: [("outcome", $0.rawValue)]))
        })
    }()

    private static let added: Metrics.Timer = {
        BrokerMetrics.bootstrap()
        return Metrics.Timer(label: "fjmcp_replica_hop_added_seconds")
    }()

    static func hop(_ outcome: Outcome) {
        hops[outcome]?.increment()
    }

    /// What a forwarded request spent beyond the holder's own handling: the local attempt that
    /// found the child elsewhere, plus the hop's connection and transfer up to the response head.
    static func addedLatency(_ duration: Duration) {
        added.record(duration: max(duration, .zero))
    }
}
