import Hummingbird

extension AuthorizationServer {
    /// The frame shared by the endpoints clients call with their credentials (token, revoke):
    /// form body, client authentication, a rate limit per client id (a hosted connector sends
    /// every user's requests from a few backend addresses, so an address key would throttle
    /// all its users at once), and ONE mapping from every
    /// failure to an RFC 6749 error plus a reason-coded log line, so the two endpoints cannot
    /// drift apart in how they fail.
    func clientAuthenticatedEndpoint(
        _ endpoint: String, _ request: Request, context: BrokerRequestContext,
        handle: (OAuthParameters, ClientRecord) async throws -> Response
    ) async throws -> Response {
        var clientID: String?
        do {
            let parameters = try await formParameters(request, context: context)
            let client = try await authenticateClient(request, parameters: parameters)
            clientID = client.clientID
            if case .limited(let retryAfter) = await tokenLimiter.check(endpoint + "|" + client.clientID) {
                throw OAuthError.rateLimited(retryAfter: retryAfter, "too many requests for this client")
            }
            return try await handle(parameters, client)
        } catch let error as OAuthError {
            OAuthTelemetry.failure(context.logger, endpoint: endpoint, clientID: clientID, reason: error.reason)
            throw error
        } catch let problem as OAuthParameters.Problem {
            OAuthTelemetry.failure(context.logger, endpoint: endpoint, clientID: clientID, reason: problem.reason)
            throw problem.oauthError
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            OAuthTelemetry.failure(context.logger, endpoint: endpoint, clientID: clientID, reason: "store_error")
            throw OAuthError(.serverError, reason: "store_error", "the request could not be processed")
        }
    }
}
