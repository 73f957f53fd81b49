import Hummingbird

extension AuthorizationServer {
    /// The frame shared by the endpoints clients call with their credentials (token, revoke):
    /// per-address rate limit, form body, client authentication, and ONE mapping from every
    /// failure to an RFC 6749 error plus a reason-coded log line, so the two endpoints cannot
    /// drift apart in how they fail.
    func clientAuthenticatedEndpoint(
        _ endpoint: String, _ request: Request, context: BrokerRequestContext,
        handle: (OAuthParameters, ClientRecord) async throws -> Response
    ) async throws -> Response {
        var clientID: String?
        do {
            guard await tokenLimiter.allow(context.clientAddress) else {
                throw OAuthError(.rateLimited, reason: "rate_limited", "too many requests from this address")
            }
            let parameters = try await formParameters(request, context: context)
            let client = try await authenticateClient(request, parameters: parameters)
            clientID = client.clientID
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
