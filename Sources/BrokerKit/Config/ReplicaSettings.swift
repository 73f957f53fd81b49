/// Replica mode (`FJMCP_REPLICA_*`): several brokers share one PostgreSQL database, each child
/// runs on exactly one of them, and a request that reaches another replica is forwarded there.
/// `BrokerConfig.replica` is nil when `FJMCP_REPLICA_URL` is unset: one broker per database.
public struct ReplicaSettings: Sendable, Equatable {
    /// Where the other replicas reach this one directly (not through the load balancer), as
    /// `scheme://host[:port]` without a trailing slash, e.g. `http://10.0.0.5:8080`.
    public var address: String
    /// How often this replica writes its heartbeat.
    public var heartbeat: Duration
    /// A replica whose last heartbeat is older than this is presumed dead: its children may be
    /// taken over. At least three heartbeats: a replica ends its own children once its last beat
    /// is a heartbeat and a quarter short of the lapse (before the others may take them over),
    /// so the lapse must leave room for a healthy beat's age (a heartbeat, plus at most half of
    /// one while the database answers).
    public var lapse: Duration

    public init(address: String, heartbeat: Duration, lapse: Duration) {
        self.address = address
        self.heartbeat = heartbeat
        self.lapse = lapse
    }

    /// The heartbeats a lapse spans when `FJMCP_REPLICA_LAPSE` is unset: a replica survives four
    /// lost or late beats (a database failover, a stalled host) before others take over.
    public static let defaultLapseBeats = 5
    /// The fewest heartbeats a lapse may span.
    public static let minimumLapseBeats = 3
    /// Heartbeats more often than this load the database for nothing; rarer ones make a
    /// take-over after a crash wait too long.
    public static let heartbeatRange: ClosedRange<Duration> = .milliseconds(100) ... .seconds(60)

    /// `check-config`'s account of replica mode, one line.
    public static func summary(_ settings: ReplicaSettings?) -> String {
        guard let settings else { return "replica mode: off (one broker per database)" }
        return "replica mode: on, reached at \(settings.address), heartbeat every \(settings.heartbeat.configDescription), "
            + "presumed dead after \(settings.lapse.configDescription)"
    }
}

extension Setting {
    public static let replicaURL = Setting("FJMCP_REPLICA_URL", help: "Replica mode: this broker's address as the other replicas reach it directly (not through the load balancer), e.g. http://10.0.0.5:8080 (http or https, no path, query or fragment). Needs a PostgreSQL FJMCP_DATABASE_URL shared by all replicas. Unset: one broker per database.")
    public static let replicaHeartbeat = Setting("FJMCP_REPLICA_HEARTBEAT", default: "2s", help: "Replica mode: how often this replica writes its heartbeat to the database (100ms to 60s).")
    public static let replicaLapse = Setting("FJMCP_REPLICA_LAPSE", help: "Replica mode: a replica whose last heartbeat is older than this is presumed dead and its children are taken over; at least 3 heartbeats. Unset: 5 heartbeats.")
}

extension ConfigReader {
    /// The replica settings; nil when replica mode is off or after recording a problem (which
    /// fails the load). `database` is nil when `FJMCP_DATABASE_URL` itself was refused.
    ///
    /// A heartbeat or lapse without `FJMCP_REPLICA_URL` is refused rather than ignored: the
    /// configuration layer has no warnings, and an operator who set them expects replica mode.
    mutating func replicaSettings(database: DatabaseLocation?) -> ReplicaSettings? {
        guard let raw = string(.replicaURL), !raw.isEmpty else {
            for setting in [Setting.replicaHeartbeat, .replicaLapse] where source.isExplicit(setting) {
                problems.append("\(setting.env) is set but \(Setting.replicaURL.env) is not; it only applies in replica mode")
            }
            return nil
        }
        let address: String?
        switch PublicURL.parse(raw, allowPath: false, requireTLSOffLoopback: false) {
        case .success(let url) where Self.isUnspecified(url.host):
            // A listen-everywhere address names no host: other replicas cannot reach it, and
            // replicas sharing it would each take the others' children for their own.
            problems.append("\(Setting.replicaURL.env)=\(raw) is invalid: \(url.host) is not an address other replicas can reach; "
                            + "give this replica's own address")
            address = nil
        case .success(let url): address = url.origin
        case .failure(let reason):
            problems.append("\(Setting.replicaURL.env)=\(raw) is invalid: \(reason.message)")
            address = nil
        }
        if case .sqlite? = database {
            problems.append("\(Setting.replicaURL.env) needs a PostgreSQL \(Setting.databaseURL.env): replicas share one database, "
                            + "and SQLite serves a single broker")
        }
        let heartbeat = replicaHeartbeat()
        let lapse = replicaLapse(heartbeat: heartbeat)
        guard let address, let heartbeat, let lapse else { return nil }
        return ReplicaSettings(address: address, heartbeat: heartbeat, lapse: lapse)
    }

    private static func isUnspecified(_ host: String) -> Bool {
        guard let address = IPAddress(parsing: host) else { return false }
        return [IPAddress(parsing: "0.0.0.0"), IPAddress(parsing: "::")].contains(address)
    }

    private mutating func replicaHeartbeat() -> Duration? {
        guard let heartbeat = duration(.replicaHeartbeat) else { return nil }
        let range = ReplicaSettings.heartbeatRange
        guard range.contains(heartbeat) else {
            problems.append("\(Setting.replicaHeartbeat.env)=\(heartbeat.configDescription) is out of range "
                            + "\(range.lowerBound.configDescription)...\(range.upperBound.configDescription)")
            return nil
        }
        return heartbeat
    }

    /// `heartbeat` is nil when it was refused: the lapse is then checked only for its form.
    private mutating func replicaLapse(heartbeat: Duration?) -> Duration? {
        guard source.isExplicit(.replicaLapse) else {
            return heartbeat.map { $0 * ReplicaSettings.defaultLapseBeats }
        }
        guard let lapse = duration(.replicaLapse, positive: true) else { return nil }
        guard let heartbeat else { return nil }
        let minimum = heartbeat * ReplicaSettings.minimumLapseBeats
        guard lapse >= minimum else {
            problems.append("\(Setting.replicaLapse.env)=\(lapse.configDescription) is shorter than \(ReplicaSettings.minimumLapseBeats) heartbeats "
                            + "(\(Setting.replicaHeartbeat.env)=\(heartbeat.configDescription)): it must be at least \(minimum.configDescription)")
            return nil
        }
        return lapse
    }
}
