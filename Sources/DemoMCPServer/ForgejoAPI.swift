import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The two Forgejo calls forgejo-mcp makes that matter to the broker: the start-up probe
/// (which decides whether the child lives) and the current user (which proves whose token it has).
struct ForgejoAPI: Sendable {
    let baseURL: URL
    let token: String?

    enum Failure: Error, CustomStringConvertible {
        case unauthorized
        case status(Int)
        case unreachable(String)
        case malformedResponse

        var description: String {
            switch self {
            case .unauthorized: "token rejected by Forgejo (401)"
            case .status(let code): "Forgejo answered HTTP \(code)"
            case .unreachable(let reason): "Forgejo unreachable: \(reason)"
            case .malformedResponse: "Forgejo sent an unexpected response"
            }
        }
    }

    init?(url: String, token: String?) {
        guard let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme),
            parsed.host != nil
        else { return nil }
        baseURL = parsed
        self.token = token
    }

    func version() async throws(Failure) -> JSONValue {
        try await get("api/v1/version")
    }

    func currentUser() async throws(Failure) -> JSONValue {
        try await get("api/v1/user")
    }

    private func get(_ path: String) async throws(Failure) -> JSONValue {
        var request = URLRequest(url: baseURL.appendingPathComponent(path), timeoutInterval: 10)
        if let token, !token.isEmpty {
            request.setValue("token \(token)", forHTTPHeaderField: "Authorization")
        }
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw .unreachable(error.localizedDescription)
        }
        guard let http = response as? HTTPURLResponse else { throw .malformedResponse }
        if http.statusCode == 401 { throw .unauthorized }
        guard (200..<300).contains(http.statusCode) else { throw .status(http.statusCode) }
        guard let value = try? JSONValue.parse(data) else { throw .malformedResponse }
        return value
    }
}
