import Hummingbird

/// `POST /oauth/register` (RFC 7591).
extension AuthorizationServer {
    func register(_ request: Request, context: BrokerRequestContext) async throws -> Response {
        do {
            if case .limited(let retryAfter) = await registrationLimiter.check(ClientAddress.rateLimitKey(context.clientAddress)) {
                throw OAuthError.rateLimited(retryAfter: retryAfter, "too many registrations from this network")
            }
            let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
            guard type == "application/json" else {
                throw OAuthError(.unsupportedMediaType, reason: "not_json", "the registration request must be application/json")
            }
            let body = try await request.body.collect(upTo: context.maxUploadSize)
            let registration = try ClientRegistration.register(json: Array(body.readableBytesView), now: clock.now(),
                                                              redirectHosts: config.access.redirectHosts)
            let evicted = try await store.insertClient(registration.record, maxGrantless: config.oauth.maxGrantlessClients)
            if evicted > 0 { context.logger.notice("grantless clients evicted", metadata: ["count": "\(evicted)"]) }
            OAuthTelemetry.step(context.logger, "register", clientID: registration.record.clientID)
            return JSONResponse.make(status: .created, object: registration.response, headers: [.cacheControl: "no-store"])
        } catch let error as OAuthError {
            OAuthTelemetry.failure(context.logger, endpoint: "register", clientID: nil, reason: error.reason)
            throw error
        }
    }
}
