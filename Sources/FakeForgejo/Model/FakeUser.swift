/// A Forgejo account as the fake stores it.
public struct FakeUser: Sendable, Equatable {
    public let id: Int
    public let login: String
    public let password: String
    public let isAdmin: Bool

    public var fullName: String { "\(login.prefix(1).uppercased())\(login.dropFirst()) User" }
    public var email: String { "\(login)@fake-forgejo.test" }
}
