/// A Forgejo organisation with its members and teams (user ids). In Forgejo membership comes
/// through teams; the fake keeps plain members too, so a test can add a member without a team.
struct FakeOrganization: Sendable {
    let id: Int
    let name: String
    var members: Set<Int> = []
    /// Team name (as created) → members.
    var teams: [String: FakeTeam] = [:]

    func team(named name: String) -> FakeTeam? {
        teams.values.first { $0.name.lowercased() == name.lowercased() }
    }
}

struct FakeTeam: Sendable {
    let id: Int
    let name: String
    var members: Set<Int> = []
}
