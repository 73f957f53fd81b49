import Foundation

/// Finds the client behind a `client_id`: a registered (DCR) client from the store, or a
/// metadata-document client, fetched and cached with a bounded TTL. Token and revocation
/// requests use only the stored row, so refreshing an existing grant never depends on the
/// document host being reachable.
struct ClientDirectory: Sendable {
    enum Failure: Error, Equatable {
        case unknown
        case document(MetadataDocumentError)
        case store
    }

    let store: any BrokerStore
    let fetcher: MetadataDocumentFetcher

    /// For `/oauth/authorize`: a stale metadata document is fetched again first.
    func clientForAuthorization(_ clientID: String, now: Date) async throws(Failure) -> ClientRecord {
        let stored: ClientRecord?
        do { stored = try await store.client(id: clientID) } catch { throw .store }
        if let stored, stored.kind == .dynamic || (stored.expiresAt ?? .distantPast) > now {
            return stored
        }
        guard MetadataDocumentFetcher.isDocumentURL(clientID) else { throw .unknown }
        let fetched: ClientRecord
        do { fetched = try await fetcher.fetch(clientID, now: now) } catch { throw .document(error) }
        do { try await store.upsertClient(fetched) } catch { throw .store }
        return fetched
    }

    /// For the token and revocation endpoints.
    func storedClient(_ clientID: String) async throws(Failure) -> ClientRecord {
        let stored: ClientRecord?
        do { stored = try await store.client(id: clientID) } catch { throw .store }
        guard let stored else { throw .unknown }
        return stored
    }
}
