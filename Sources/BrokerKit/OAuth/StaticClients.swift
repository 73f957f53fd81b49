import Foundation

/// Pre-registered confidential clients (`FJMCP_STATIC_CLIENTS_FILE`) for hosts where the user
/// pastes a client id and secret instead of registering dynamically. The file holds only the
/// SHA-256 of each secret (the form the store keeps for registered clients), so the file itself
/// never gives a working credential away. The clients live in memory, never in the store:
/// removing one from the file and restarting ends its use at once.
public struct StaticClient: Sendable, Equatable {
    public let clientID: String
    /// Lower-case hex SHA-256 of the secret.
    public let secretHash: String
    public let name: String
    public let redirectURIs: [String]

    /// The record the authorization server works with; `client_secret_basic` and
    /// `client_secret_post` are both accepted, as for registered clients.
    func record(loadedAt: Date) -> ClientRecord {
        ClientRecord(clientID: clientID, kind: .dynamic, secretHash: secretHash, name: name, redirectURIs: redirectURIs,
                     tokenEndpointAuthMethod: "client_secret_basic", metadataJSON: "{\"static\":true}", createdAt: loadedAt)
    }
}

public enum StaticClients {
    static let maxFileBytes = 1 << 20
    static let maxIDLength = 200
    static let fields: Set<String> = ["client_id", "client_secret_sha256", "name", "redirect_uris"]

    /// Why the file cannot be used: one message naming the entry and field.
    public struct Problem: Error, Equatable, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static func load(path: String) throws(Problem) -> [StaticClient] {
        let data: Data
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            guard (attributes[.size] as? Int ?? 0) <= maxFileBytes else { throw Problem(message: "is larger than 1 MiB") }
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch let problem as Problem {
            throw problem
        } catch {
            throw Problem(message: "cannot be read (\(error.localizedDescription))")
        }
        return try parse(data)
    }

    /// Validates every entry: known fields only (a typo must not pass silently), a client id that
    /// cannot collide with a metadata document URL, 64 hex digits of secret hash, a name, and
    /// redirect URIs that ``RedirectURIPolicy`` accepts.
    public static func parse(_ data: Data) throws(Problem) -> [StaticClient] {
        guard let list = (try? JSONSerialization.jsonObject(with: data)) as? [Any] else {
            throw Problem(message: "expected a JSON array of {client_id, client_secret_sha256, name, redirect_uris}")
        }
        var clients: [StaticClient] = []
        for (index, item) in list.enumerated() {
            let client = try entry(item, index: index)
            guard !clients.contains(where: { $0.clientID == client.clientID }) else {
                throw Problem(message: "entry \(index): client_id '\(client.clientID)' appears twice")
            }
            clients.append(client)
        }
        return clients
    }

    private static func entry(_ item: Any, index: Int) throws(Problem) -> StaticClient {
        func fail(_ message: String) -> Problem { Problem(message: "entry \(index): \(message)") }
        guard let object = item as? [String: Any] else { throw fail("expected an object") }
        if let unknown = object.keys.sorted().first(where: { !fields.contains($0) }) { throw fail("unknown field '\(unknown)'") }
        guard let clientID = object["client_id"] as? String, !clientID.isEmpty, clientID.utf8.count <= maxIDLength,
              clientID.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }), !clientID.contains(":")
        else { throw fail("client_id must be 1-\(maxIDLength) printable ASCII characters without spaces or ':'") }
        guard let hash = (object["client_secret_sha256"] as? String)?.lowercased(), Hex.decode(hash)?.count == 32 else {
            throw fail("client_secret_sha256 must be 64 hex digits (sha256sum of the secret)")
        }
        guard let name = object["name"] as? String, !name.trimmingCharacters(in: .whitespaces).isEmpty,
              name.utf8.count <= ClientRegistration.maxNameLength
        else { throw fail("name must be a non-empty string of at most \(ClientRegistration.maxNameLength) bytes") }
        guard let uris = object["redirect_uris"] as? [String], !uris.isEmpty, uris.count <= RedirectURIPolicy.maxCount else {
            throw fail("redirect_uris must be 1-\(RedirectURIPolicy.maxCount) strings")
        }
        for uri in uris {
            if let problem = RedirectURIPolicy.problem(with: uri) { throw fail("\(uri): \(problem)") }
        }
        return StaticClient(clientID: clientID, secretHash: hash, name: name, redirectURIs: uris)
    }
}
