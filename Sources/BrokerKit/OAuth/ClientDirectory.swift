import Foundation

/// Finds the client behind a `client_id`: a static client from the operator's file, a
/// registered (DCR) client from the store, or a metadata-document client, fetched and cached
/// with a bounded TTL. Token and revocation
/// requests use only the stored row, so refreshing an existing grant never depends on the
/// document host being reachable.
struct ClientDirectory: Sendable {
    enum Failure: Error, Equatable {
        case unknown
        case document(MetadataDocumentError)
        case store
    }

    let store: any BrokerStore
    /// `FJMCP_STATIC_CLIENTS_FILE`, by client id; looked up before the store.
    private let staticClients: [String: ClientRecord]
    private let flights: MetadataDocumentFlights
    private let clock: OAuthClock

    init(store: any BrokerStore, fetcher: MetadataDocumentFetcher, limits: MetadataDocumentFlights.Limits, clock: OAuthClock,
         staticClients: [StaticClient] = []) {
        self.store = store
        self.clock = clock
        let loadedAt = clock.now()
        self.staticClients = Dictionary(staticClients.map { ($0.clientID, $0.record(loadedAt: loadedAt)) }, uniquingKeysWith: { first, _ in first })
        flights = MetadataDocumentFlights(limits: limits, deadline: fetcher.timeout) { url in
            let fetched: ClientRecord
            do throws(MetadataDocumentError) { fetched = try await fetcher.fetch(url, now: clock.now()) } catch {
                return .failure(.document(error))
            }
            do { try await store.upsertClient(fetched) } catch { return .failure(.store) }
            return .success(fetched)
        }
    }

    /// For `/oauth/authorize`: a stale metadata document is fetched again first (one fetch per
    /// URL at a time, see ``MetadataDocumentFlights``).
    func clientForAuthorization(_ clientID: String, now: Date) async throws(Failure) -> ClientRecord {
        if let preconfigured = staticClients[clientID] { return preconfigured }
        let stored: ClientRecord?
        do { stored = try await store.client(id: clientID) } catch { throw .store }
        if let stored, stored.kind == .dynamic || (stored.expiresAt ?? .distantPast) > now {
            return stored
        }
        guard MetadataDocumentFetcher.isDocumentURL(clientID) else { throw .unknown }
        return try await flights.load(clientID).get()
    }

    /// What the broker knows of a client without fetching anything (for listings): a static
    /// client or the stored row; nil when neither exists any more.
    func known(_ clientID: String) async throws -> ClientRecord? {
        if let preconfigured = staticClients[clientID] { return preconfigured }
        return try await store.client(id: clientID)
    }

    /// Whether the operator configured this client (its redirect URIs are then trusted as listed).
    func isStatic(_ clientID: String) -> Bool {
        staticClients[clientID] != nil
    }

    /// Fetches in progress, including ones whose waiters were already answered.
    var activeFetches: Int {
        get async { await flights.activeFetches }
    }

    /// For the token and revocation endpoints.
    func storedClient(_ clientID: String) async throws(Failure) -> ClientRecord {
        if let preconfigured = staticClients[clientID] { return preconfigured }
        let stored: ClientRecord?
        do { stored = try await store.client(id: clientID) } catch { throw .store }
        guard let stored else { throw .unknown }
        return stored
    }
}
