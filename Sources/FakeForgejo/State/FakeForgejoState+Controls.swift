/// Test controls; see the list on `FakeForgejoState`.
extension FakeForgejoState {
    /// Creates a user and seeds its repository `<login>/demo` with one issue.
    @discardableResult
    public func createUser(_ seed: FakeUserSeed) throws(FakeForgejoControlError) -> FakeUser {
        guard !seed.login.isEmpty, !seed.login.contains("/") else {
            throw .invalidRequest("login must be non-empty and contain no '/'")
        }
        guard user(login: seed.login) == nil else { throw .duplicateUser(seed.login) }
        var id = seed.id ?? allocateID()
        while seed.id == nil && users[id] != nil { id = allocateID() }
        guard users[id] == nil else { throw .invalidRequest("user id \(id) already in use") }
        let user = FakeUser(id: id, login: seed.login, password: seed.password, isAdmin: seed.isAdmin)
        users[id] = user
        let welcome = FakeIssue(
            id: allocateID(), index: 1, title: "Welcome", body: "Seeded by fake-forgejo.",
            authorID: id, createdAt: now())
        repositories.append(
            FakeRepository(id: allocateID(), ownerID: id, ownerLogin: seed.login, name: "demo", issues: [welcome]))
        return user
    }

    /// Registers an OAuth2 application; a given client id/secret is kept verbatim.
    @discardableResult
    public func registerApp(_ seed: FakeAppSeed) throws(FakeForgejoControlError) -> FakeAppCredentials {
        let clientID = seed.clientID ?? FakeRandom.clientID()
        guard !clientID.isEmpty else { throw .invalidRequest("client_id must not be empty") }
        guard app(clientID: clientID) == nil else { throw .duplicateClientID(clientID) }
        let secret = seed.clientSecret ?? FakeRandom.clientSecret()
        let app = FakeOAuthApp(
            id: allocateID(), name: seed.name, clientID: clientID, clientSecret: secret,
            redirectURIs: seed.redirectURIs, confidential: seed.confidential)
        apps[app.id] = app
        return FakeAppCredentials(clientID: clientID, clientSecret: secret)
    }

    /// Deletes the app with all its grants and codes (forgejo-notes A11).
    public func deleteApp(clientID: String) throws(FakeForgejoControlError) {
        guard let app = app(clientID: clientID) else { throw .unknownApp(clientID) }
        apps[app.id] = nil
        for grant in grants.values where grant.appID == app.id { deleteGrant(grant.id) }
    }

    /// Deletes the user's grant for the app, as "Revoke" in Forgejo's settings UI does.
    public func revokeGrant(login: String, clientID: String) throws(FakeForgejoControlError) {
        guard let user = user(login: login) else { throw .unknownUser(login) }
        guard let app = app(clientID: clientID) else { throw .unknownApp(clientID) }
        guard let grant = grant(userID: user.id, appID: app.id) else {
            throw .unknownGrant(login: login, clientID: clientID)
        }
        deleteGrant(grant.id)
    }

    func deleteGrant(_ grantID: Int) {
        grants[grantID] = nil
        issuedTokens[grantID] = nil
        codes = codes.filter { $0.value.grantID != grantID }
    }

    /// Makes every access token (and optionally refresh token) issued so far to the user
    /// behave as expired, without moving the clock.
    public func expireTokens(login: String, includeRefreshTokens: Bool = false) throws(FakeForgejoControlError) {
        guard let user = user(login: login) else { throw .unknownUser(login) }
        for grant in grants.values where grant.userID == user.id {
            for issued in issuedTokens[grant.id] ?? [] where issued.kind == .access || includeRefreshTokens {
                expiredTokens.insert(issued.token)
            }
        }
    }

    public func setAccessTokenLifetime(seconds: Int) {
        accessTokenLifetime = seconds
    }

    public func setRefreshTokenLifetime(hours: Int) {
        refreshTokenLifetimeHours = hours
    }

    public func setInvalidateRefreshTokens(_ enabled: Bool) {
        invalidateRefreshTokens = enabled
    }

    /// `nil` restores the normal login + consent flow.
    public func setAutoApproveUser(_ login: String?) {
        autoApproveUser = login
    }

    /// Moves the fake's clock; every `exp`/`iat` issued or checked afterwards uses it.
    public func advanceClock(seconds: Int) {
        clockOffset += seconds
    }

    public func counters() -> FakeForgejoCounters {
        statistics
    }

    /// Queues `fault` for the next `count` requests to `target`.
    public func injectFault(_ fault: FakeFault, target: FakeFaultTarget, count: Int = 1) {
        faults[target, default: []].append(contentsOf: Array(repeating: fault, count: max(0, count)))
    }

    /// Faults still queued for `target`, so a test can wait until its fault was hit.
    public func pendingFaults(target: FakeFaultTarget) -> Int {
        faults[target]?.count ?? 0
    }

    public func clearFaults() {
        faults = [:]
    }

    func takeFault(for target: FakeFaultTarget) -> FakeFault? {
        guard var queue = faults[target], !queue.isEmpty else { return nil }
        let fault = queue.removeFirst()
        faults[target] = queue
        return fault
    }

    /// The grant's rotation counter, for tests that check A7 semantics directly.
    public func grantCounter(login: String, clientID: String) -> Int? {
        guard let user = user(login: login), let app = app(clientID: clientID) else { return nil }
        return grant(userID: user.id, appID: app.id)?.counter
    }
}
