/// Misuse of a test control; each case answers one HTTP status on `/_fake/`.
public enum FakeForgejoControlError: Error, Sendable, Equatable {
    case unknownUser(String)
    case unknownApp(String)
    case unknownGrant(login: String, clientID: String)
    case duplicateUser(String)
    case duplicateClientID(String)
    case invalidRequest(String)
    case unknownOrganization(String)
    case unknownTeam(organization: String, team: String)
    case duplicateOrganization(String)

    public var httpStatus: Int {
        switch self {
        case .unknownUser, .unknownApp, .unknownGrant, .unknownOrganization, .unknownTeam: 404
        case .duplicateUser, .duplicateClientID, .duplicateOrganization: 409
        case .invalidRequest: 400
        }
    }

    public var message: String {
        switch self {
        case .unknownUser(let login): "unknown user '\(login)'"
        case .unknownApp(let clientID): "unknown client id '\(clientID)'"
        case .unknownGrant(let login, let clientID): "no grant for user '\(login)' and client '\(clientID)'"
        case .duplicateUser(let login): "user '\(login)' already exists"
        case .duplicateClientID(let clientID): "client id '\(clientID)' already registered"
        case .invalidRequest(let reason): reason
        case .unknownOrganization(let name): "unknown organisation '\(name)'"
        case .unknownTeam(let organization, let team): "unknown team '\(organization)/\(team)'"
        case .duplicateOrganization(let name): "organisation or user '\(name)' already exists"
        }
    }
}
