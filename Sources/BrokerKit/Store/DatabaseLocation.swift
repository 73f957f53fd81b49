import Foundation

/// Where the broker keeps its state (`FJMCP_DATABASE_URL`): the embedded SQLite file, the default
/// that needs no server, or a PostgreSQL database.
public enum DatabaseLocation: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    /// Parses `sqlite://PATH`, `postgres://…` or `postgresql://…`. `password` is
    /// `FJMCP_DATABASE_PASSWORD` (or its `_FILE`), used when the URL carries none. The failure
    /// text never repeats the URL: it may hold a password.
    public static func parse(_ raw: String, password: String?) -> Result<DatabaseLocation, ParseFailure> {
        if raw.hasPrefix("sqlite://") {
            let path = String(raw.dropFirst("sqlite://".count))
            return path.isEmpty ? .failure(ParseFailure("sqlite:// needs a file path")) : .success(.sqlite(path: path))
        }
        guard raw.hasPrefix("postgres://") || raw.hasPrefix("postgresql://") else {
            return .failure(ParseFailure("expected sqlite://PATH, postgres://USER@HOST:PORT/DATABASE or postgresql://…"))
        }
        return PostgresLocation.parse(raw, password: password).map(DatabaseLocation.postgres)
    }

    /// What logs and `check-config` may show: the engine and where, never a password.
    public var redacted: String {
        switch self {
        case .sqlite(let path): "sqlite://\(path)"
        case .postgres(let location): location.redacted
        }
    }

    public struct ParseFailure: Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}

/// A PostgreSQL database to connect to, from a libpq-style URL:
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…&sslrootcert=…&host=…]`.
///
/// A Unix socket is named by a directory, as libpq does: `?host=/run/postgresql` (the socket is
/// `DIR/.s.PGSQL.PORT`); a percent-encoded host (`postgres://u@%2Frun%2Fpostgresql/db`) means the
/// same. TLS follows libpq's `sslmode`: `disable`, `prefer` (the default: TLS when the server
/// offers it, unverified), `require` (TLS, unverified), `verify-full` (TLS, certificate and host
/// name verified against the system roots or `sslrootcert=PATH`).
public struct PostgresLocation: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unixSocket(path: String)
    }

    public enum TLSMode: String, Sendable, Equatable, CaseIterable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    public var endpoint: Endpoint
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// PEM file of the roots `verify-full` trusts instead of the system's.
    public var rootCertificatePath: String?

    public static let defaultPort = 5432

    static func parse(_ raw: String, password configuredPassword: String?) -> Result<PostgresLocation, DatabaseLocation.ParseFailure> {
        func failure(_ reason: String) -> Result<PostgresLocation, DatabaseLocation.ParseFailure> { .failure(.init(reason)) }
        guard let components = URLComponents(string: raw) else { return failure("not a valid URL") }
        guard let user = components.user, !user.isEmpty else { return failure("the URL needs a user (postgres://USER@HOST/DATABASE)") }
        if components.password != nil, configuredPassword != nil {
            return failure("a password in the URL and FJMCP_DATABASE_PASSWORD are both set; use one")
        }
        var options: [String: String] = [:]
        for item in components.queryItems ?? [] {
            guard ["sslmode", "sslrootcert", "host"].contains(item.name) else {
                return failure("unknown option '\(item.name)' (supported: sslmode, sslrootcert, host)")
            }
            guard let value = item.value, !value.isEmpty else { return failure("option '\(item.name)' needs a value") }
            options[item.name] = value
        }
        var tls = TLSMode.prefer
        if let mode = options["sslmode"] {
            guard let parsed = TLSMode(rawValue: mode) else {
                return failure("sslmode=\(mode) is not supported (expected disable, prefer, require or verify-full)")
            }
            tls = parsed
        }
        if options["sslrootcert"] != nil, tls != .verifyFull { return failure("sslrootcert needs sslmode=verify-full") }
        let port = components.port ?? defaultPort
        guard (1...65_535).contains(port) else { return failure("port \(port) is out of range") }
        let host = options["host"] ?? components.host.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "[]")) } ?? ""
        let endpoint: Endpoint
        if host.hasPrefix("/") {
            guard tls == .prefer || tls == .disable else { return failure("sslmode=\(tls.rawValue) cannot be used over a Unix socket") }
            endpoint = .unixSocket(path: host + "/.s.PGSQL.\(port)")
            tls = .disable
        } else if host.isEmpty {
            return failure("the URL needs a host, or ?host=/socket/directory for a Unix socket")
        } else {
            endpoint = .tcp(host: host, port: port)
        }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.contains("/") else { return failure("the database name cannot contain '/'") }
        return .success(PostgresLocation(endpoint: endpoint, user: user, password: components.password ?? configuredPassword,
                                         database: path.isEmpty ? user : path, tls: tls, rootCertificatePath: options["sslrootcert"]))
    }

    /// `postgres://USER@HOST:PORT/DATABASE` without the password, for logs and `check-config`.
    public var redacted: String {
        switch endpoint {
        case .tcp(let host, let port):
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "postgres://\(user)@\(shownHost):\(port)/\(database)?sslmode=\(tls.rawValue)"
        case .unixSocket(let path):
            return "postgres://\(user)@/\(database) (socket \(path))"
        }
    }
}

extension BrokerConfig {
    /// The SQLite file: the `sqlite://` one, or the data directory's default when the store is
    /// PostgreSQL. For the test harnesses that open a ``SQLiteStore`` of a configuration themselves.
    public var databasePath: String {
        if case .sqlite(let path) = database { return path }
        return dataDirectory + "/broker.sqlite"
    }
}
