/// Organisations and teams: test controls and what `/api/v1/user/orgs` and `/user/teams` read.
extension FakeForgejoState {
    @discardableResult
    public func createOrganization(name: String) throws(FakeForgejoControlError) -> Int {
        guard !name.isEmpty, !name.contains("/") else { throw .invalidRequest("organisation name must be non-empty and contain no '/'") }
        guard organizations[name.lowercased()] == nil, user(login: name) == nil else { throw .duplicateOrganization(name) }
        let organization = FakeOrganization(id: allocateID(), name: name)
        organizations[name.lowercased()] = organization
        return organization.id
    }

    /// Adds `login` to the organisation, or (with `team`) to that team, created on first use,
    /// which makes them an organisation member as in Forgejo.
    public func addMember(organization name: String, team: String? = nil, login: String) throws(FakeForgejoControlError) {
        let (key, userID) = try lookUp(organization: name, login: login)
        organizations[key]?.members.insert(userID)
        guard let team else { return }
        guard !team.isEmpty, !team.contains("/") else { throw .invalidRequest("team name must be non-empty and contain no '/'") }
        let teamKey = organizations[key]?.team(named: team)?.name ?? team
        if organizations[key]?.teams[teamKey] == nil { organizations[key]?.teams[teamKey] = FakeTeam(id: allocateID(), name: team) }
        organizations[key]?.teams[teamKey]?.members.insert(userID)
    }

    /// Removes `login` from the team, or (without `team`) from the organisation and all its teams.
    public func removeMember(organization name: String, team: String? = nil, login: String) throws(FakeForgejoControlError) {
        let (key, userID) = try lookUp(organization: name, login: login)
        if let team {
            guard let teamKey = organizations[key]?.team(named: team)?.name else { throw .unknownTeam(organization: name, team: team) }
            organizations[key]?.teams[teamKey]?.members.remove(userID)
            return
        }
        organizations[key]?.members.remove(userID)
        for teamKey in organizations[key]?.teams.keys.map({ $0 }) ?? [] { organizations[key]?.teams[teamKey]?.members.remove(userID) }
    }

    /// Makes the membership lists fail (500) or answer again, for tests of a sign-in check that
    /// cannot reach its answer.
    public func setMembershipListsFailing(_ failing: Bool) {
        membershipListsFailing = failing
    }

    /// The user's organisations, sorted by name.
    func organizations(memberID: Int) -> [FakeOrganization] {
        organizations.values.filter { $0.members.contains(memberID) }.sorted { $0.name.lowercased() < $1.name.lowercased() }
    }

    /// The user's teams with their organisation, sorted.
    func teams(memberID: Int) -> [(team: FakeTeam, organization: FakeOrganization)] {
        organizations(memberID: memberID).flatMap { organization in
            organization.teams.values.filter { $0.members.contains(memberID) }.map { (team: $0, organization: organization) }
        }.sorted { ($0.organization.name, $0.team.name) < ($1.organization.name, $1.team.name) }
    }

    private func lookUp(organization name: String, login: String) throws(FakeForgejoControlError) -> (String, Int) {
        guard organizations[name.lowercased()] != nil else { throw .unknownOrganization(name) }
        guard let user = user(login: login) else { throw .unknownUser(login) }
        return (name.lowercased(), user.id)
    }
}
