import Foundation
import GRDB
import PostgresNIO

/// A result row of either engine. Both stores share one schema (same tables, same column names,
/// times as epoch seconds), so each record is decoded from a row in exactly one place: a column
/// added to a record cannot be read on one engine and forgotten on the other.
protocol StoreRow {
    /// The column's value; an optional `Value` reads SQL NULL as nil. Throws when the column holds
    /// something else (a schema this version does not know), rather than trapping.
    func column<Value: DatabaseValueConvertible & PostgresDecodable>(_ name: String) throws -> Value
}

extension Row: StoreRow {
    func column<Value: DatabaseValueConvertible & PostgresDecodable>(_ name: String) throws -> Value {
        try decode(Value.self, forColumn: name)
    }
}

extension PostgresRandomAccessRow: StoreRow {
    func column<Value: DatabaseValueConvertible & PostgresDecodable>(_ name: String) throws -> Value {
        try self[name].decode(Value.self)
    }
}

extension StoreRow {
    /// An epoch-seconds column.
    func date(_ name: String) throws -> Date { Date(epochSeconds: try column(name)) }

    /// An epoch-milliseconds column: replica heartbeats and claims, whose lapse may be shorter
    /// than a second or two, are judged in milliseconds.
    func millisecondsDate(_ name: String) throws -> Date {
        Date(timeIntervalSince1970: TimeInterval(try column(name) as Int64) / 1_000)
    }

    /// A nullable epoch-seconds column.
    func optionalDate(_ name: String) throws -> Date? { (try column(name) as Int64?).map(Date.init(epochSeconds:)) }
}

extension UserRecord {
    init(row: some StoreRow) throws {
        self.init(id: try row.column("id"), login: try row.column("login"), fullName: try row.column("full_name"),
                  email: try row.column("email"), avatarURL: try row.column("avatar_url"), isAdmin: try row.column("is_admin"),
                  createdAt: try row.date("created_at"), updatedAt: try row.date("updated_at"))
    }
}

extension UpstreamTokenRecord {
    init(row: some StoreRow) throws {
        self.init(userID: try row.column("user_id"), sealed: try row.column("sealed"),
                  accessExpiresAt: try row.optionalDate("access_expires_at"),
                  version: try row.column("version"), updatedAt: try row.date("updated_at"))
    }
}

extension ClientRecord {
    /// The `redirect_uris` column.
    var redirectURIsJSON: String {
        String(decoding: (try? JSONEncoder().encode(redirectURIs)) ?? Data("[]".utf8), as: UTF8.self)
    }

    /// Nil for a row this version cannot use (an unknown kind, unreadable redirect URIs).
    init?(row: some StoreRow) throws {
        guard let kind = ClientKind(rawValue: try row.column("kind")),
              let uris = try? JSONDecoder().decode([String].self, from: Data((try row.column("redirect_uris") as String).utf8))
        else { return nil }
        self.init(clientID: try row.column("client_id"), kind: kind, secretHash: try row.column("secret_hash"),
                  name: try row.column("name"), redirectURIs: uris,
                  tokenEndpointAuthMethod: try row.column("token_endpoint_auth_method"),
                  metadataJSON: try row.column("metadata_json"), createdAt: try row.date("created_at"),
                  expiresAt: try row.optionalDate("expires_at"))
    }
}

extension GrantRecord {
    init(row: some StoreRow) throws {
        self.init(id: try row.column("id"), userID: try row.column("user_id"), clientID: try row.column("client_id"),
                  scope: try row.column("scope"), resource: try row.column("resource"),
                  createdAt: try row.date("created_at"), lastUsedAt: try row.date("last_used_at"),
                  revokedAt: try row.optionalDate("revoked_at"))
    }
}

extension PendingAuthorizationRecord {
    init(row: some StoreRow) throws {
        self.init(id: try row.column("id"), clientID: try row.column("client_id"), redirectURI: try row.column("redirect_uri"),
                  clientState: try row.column("client_state"), codeChallenge: try row.column("code_challenge"),
                  scope: try row.column("scope"), resource: try row.column("resource"),
                  browserBindingHash: try row.column("browser_binding_hash"), upstreamStateHash: try row.column("upstream_state_hash"),
                  upstreamVerifierSealed: try row.column("upstream_verifier_sealed"),
                  createdAt: try row.date("created_at"), expiresAt: try row.date("expires_at"))
    }
}

extension AuthorizationCodeRecord {
    init(row: some StoreRow) throws {
        self.init(codeHash: try row.column("code_hash"), grantID: try row.column("grant_id"), clientID: try row.column("client_id"),
                  redirectURI: try row.column("redirect_uri"), codeChallenge: try row.column("code_challenge"),
                  resource: try row.column("resource"), scope: try row.column("scope"),
                  expiresAt: try row.date("expires_at"), usedAt: try row.optionalDate("used_at"))
    }
}

extension AccessTokenRecord {
    init(row: some StoreRow) throws {
        self.init(tokenHash: try row.column("token_hash"), grantID: try row.column("grant_id"), clientID: try row.column("client_id"),
                  userID: try row.column("user_id"), resource: try row.column("resource"), scope: try row.column("scope"),
                  expiresAt: try row.date("expires_at"), createdAt: try row.date("created_at"))
    }
}

extension RefreshTokenRecord {
    init(row: some StoreRow) throws {
        self.init(tokenHash: try row.column("token_hash"), grantID: try row.column("grant_id"), clientID: try row.column("client_id"),
                  expiresAt: try row.date("expires_at"), createdAt: try row.date("created_at"),
                  rotatedAt: try row.optionalDate("rotated_at"), successorSealed: try row.column("successor_sealed"),
                  successorHash: try row.column("successor_hash"))
    }
}

extension SessionRecord {
    init(row: some StoreRow) throws {
        let initialize: Data = try row.column("initialize")
        let initialized: Data? = try row.column("initialized")
        self.init(idHash: try row.column("id_hash"), userID: try row.column("user_id"), clientID: try row.column("client_id"),
                  grantID: try row.column("grant_id"), protocolVersion: try row.column("protocol_version"),
                  initialize: Array(initialize), initialized: initialized.map { Array($0) },
                  logLevel: try row.column("log_level"), subscriptions: Self.decode(try row.column("subscriptions")),
                  createdAt: try row.date("created_at"))
    }

    /// The `subscriptions` column: a JSON array, NULL when there are none.
    static func encode(_ uris: [String]) -> String? {
        uris.isEmpty ? nil : (try? JSONEncoder().encode(uris)).flatMap { String(data: $0, encoding: .utf8) }
    }

    static func decode(_ text: String?) -> [String] {
        text.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } ?? []
    }
}

extension ReplicaRecord {
    init(row: some StoreRow) throws {
        self.init(id: try row.column("id"), address: try row.column("address"),
                  startedAt: try row.millisecondsDate("started_ms"), heartbeatAt: try row.millisecondsDate("heartbeat_ms"))
    }
}

extension ChildOwnerRecord {
    init(row: some StoreRow) throws {
        self.init(key: try row.column("key"), replicaID: try row.column("replica_id"), claimedAt: try row.millisecondsDate("claimed_ms"))
    }
}

extension AuditRecord {
    /// Nil for a row whose event this version does not know (written by a newer broker).
    init?(row: some StoreRow) throws {
        guard let event = Event(rawValue: try row.column("event")) else { return nil }
        self.init(time: Date(timeIntervalSince1970: TimeInterval(try row.column("time_ms") as Int64) / 1_000), event: event,
                  user: try row.column("user"), client: try row.column("client"), tool: try row.column("tool"),
                  durationMs: try row.column("duration_ms"), outcome: try row.column("outcome"),
                  requestID: try row.column("request_id"), detail: try row.column("detail"))
    }
}

extension Date {
    /// Audit times are kept in milliseconds (several records per second must stay ordered).
    var epochMilliseconds: Int64 { Int64((timeIntervalSince1970 * 1_000).rounded(.down)) }
}
