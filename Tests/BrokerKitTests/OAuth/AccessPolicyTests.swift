@testable import BrokerKit
import Foundation
import XCTest

/// The pure parts of "who may connect": the sign-in lists, the client host allowlists, private-use
/// redirect schemes, the static clients file, and how configuration reports each bad entry.
final class AccessPolicyTests: XCTestCase {
    // MARK: - Sign-in policy

    func testSignInPolicyIsOpenWhenBothListsAreEmpty() throws {
        let policy = try SignInPolicy(users: " , ", organizations: "")
        XCTAssertTrue(policy.isOpen)
        XCTAssertTrue(policy.admitsByName("anyone"))
        XCTAssertEqual(policy.missingScopes(granted: "read:repository"), [])
    }

    func testSignInPolicyComparesNamesCaseInsensitively() throws {
        let policy = try SignInPolicy(users: "Alice, carol", organizations: "Acme, Umbrella/Core Team")
        XCTAssertTrue(policy.admitsByName("ALICE"))
        XCTAssertFalse(policy.admitsByName("bob"))
        XCTAssertTrue(policy.admits(memberships: ForgejoMemberships(organizations: ["acme"])))
        XCTAssertTrue(policy.admits(memberships: ForgejoMemberships(teams: ["umbrella/core team"])))
        XCTAssertFalse(policy.admits(memberships: ForgejoMemberships(organizations: ["umbrella"], teams: ["umbrella/other"])))
        XCTAssertFalse(policy.admits(memberships: ForgejoMemberships()))
    }

    func testSignInPolicyRefusesEntriesThatAreNoForgejoNames() {
        for (users, organizations) in [("al ice", ""), ("a/b", ""), ("", "acme/"), ("", "/team"), ("", "a/b/c"), ("", "ac me")] {
            XCTAssertThrowsError(try SignInPolicy(users: users, organizations: organizations), "\(users) \(organizations)")
        }
    }

    func testSignInPolicyNamesTheScopesItsChecksNeed() throws {
        let organizations = try SignInPolicy(users: "", organizations: "acme")
        XCTAssertEqual(organizations.missingScopes(granted: ""), [], "no granular scope means full access")
        XCTAssertEqual(organizations.missingScopes(granted: "openid profile"), [], "OIDC words alone mean full access")
        XCTAssertEqual(organizations.missingScopes(granted: "all"), [])
        XCTAssertEqual(organizations.missingScopes(granted: "read:user read:repository"), ["read:organization"])
        XCTAssertEqual(organizations.missingScopes(granted: "write:user write:organization"), [], "write implies read")
        XCTAssertEqual(organizations.missingScopes(granted: "read:repository"), ["read:user", "read:organization"])
        let teams = try SignInPolicy(users: "", organizations: "acme/ops")
        XCTAssertEqual(teams.missingScopes(granted: "read:user read:repository"), [], "/user/teams wants read:user only")
        let users = try SignInPolicy(users: "alice", organizations: "")
        XCTAssertEqual(users.missingScopes(granted: "read:repository"), [], "a user list reads no memberships")
    }

    // MARK: - Redirect URIs and host allowlists

    func testPrivateUseSchemesAreAcceptedAndDangerousSchemesAreNot() {
        XCTAssertNil(RedirectURIPolicy.problem(with: "cursor://anysphere.cursor-mcp/oauth/callback"))
        XCTAssertNil(RedirectURIPolicy.problem(with: "com.example.app:/oauth2redirect"))
        for uri in ["javascript:alert(1)", "JavaScript://x/%0aalert(1)", "data:text/html,x", "file:///etc/passwd", "vbscript:msgbox",
                    "blob:https://a.example/x", "http://app.example/cb", "https:/no-host", "cursor:", "com.example.app:/cb#frag",
                    "cursor://user:pw@host/cb"] {
            XCTAssertNotNil(RedirectURIPolicy.problem(with: uri), uri)
        }
    }

    func testRedirectHostAllowlistMatchesHostsLoopbackAndSchemes() throws {
        let allowed = try ClientHostAllowlist(configValue: "Claude.ai, claude.com, localhost, cursor:", allowSchemes: true)
        XCTAssertTrue(allowed.permits("https://claude.ai/api/mcp/auth_callback"))
        XCTAssertTrue(allowed.permits("https://CLAUDE.com/cb"))
        XCTAssertFalse(allowed.permits("https://evil.claude.ai/cb"), "no implicit subdomains")
        XCTAssertFalse(allowed.permits("https://claude.ai.evil.example/cb"))
        XCTAssertTrue(allowed.permits("http://127.0.0.1:33418/cb"), "localhost stands for every loopback address")
        XCTAssertTrue(allowed.permits("http://[::1]:8080/cb"))
        XCTAssertTrue(allowed.permits("http://localhost:3000/cb"))
        XCTAssertTrue(allowed.permits("cursor://anysphere.cursor-mcp/oauth/callback"))
        XCTAssertFalse(allowed.permits("com.example.app:/cb"))
        XCTAssertEqual(ClientHostAllowlist.describe("com.example.app:/cb"), "com.example.app:")
        XCTAssertEqual(ClientHostAllowlist.describe("https://x.example/cb"), "x.example")
        let onlyRemote = try ClientHostAllowlist(configValue: "claude.ai", allowSchemes: true)
        XCTAssertFalse(onlyRemote.permits("http://127.0.0.1:1/cb"))
    }

    func testHostAllowlistEntriesAreValidated() {
        for entry in ["https://claude.ai", "claude.ai:443", "claude.ai/cb", "*.claude.ai", "javascript:", "http:", "a..b", "9cursor:"] {
            XCTAssertThrowsError(try ClientHostAllowlist(configValue: entry, allowSchemes: true), entry)
        }
        XCTAssertThrowsError(try ClientHostAllowlist(configValue: "cursor:", allowSchemes: false), "client id hosts are hosts only")
        XCTAssertNoThrow(try ClientHostAllowlist(configValue: "[::1], 10.0.0.1, com.example.app:", allowSchemes: true))
    }

    // MARK: - Static clients

    static let hash = String(repeating: "ab", count: 32)

    func testStaticClientsParse() throws {
        let clients = try StaticClients.parse(Data("""
            [{"client_id": "paste-me", "client_secret_sha256": "\(Self.hash.uppercased())", "name": "Pasted",
              "redirect_uris": ["https://app.example/cb", "cursor://x/cb"]}]
            """.utf8))
        XCTAssertEqual(clients, [StaticClient(clientID: "paste-me", secretHash: Self.hash, name: "Pasted",
                                              redirectURIs: ["https://app.example/cb", "cursor://x/cb"])])
        XCTAssertEqual(try StaticClients.parse(Data("[]".utf8)), [])
    }

    func testStaticClientsRefuseEveryBadEntryNamingIt() {
        let good = #""client_id": "c", "client_secret_sha256": "\#(Self.hash)", "name": "N", "redirect_uris": ["https://a.example/cb"]"#
        let cases: [(String, String)] = [
            ("{}", "JSON array"),
            ("[1]", "entry 0: expected an object"),
            ("[{\(good), \"secret\": \"x\"}]", "unknown field 'secret'"),
            ("[{\(good.replacingOccurrences(of: "\"c\"", with: "\"https://c.example\""))}]", "client_id"),
            ("[{\(good.replacingOccurrences(of: "\"c\"", with: "\"a b\""))}]", "client_id"),
            ("[{\(good.replacingOccurrences(of: Self.hash, with: "secret"))}]", "client_secret_sha256"),
            ("[{\(good.replacingOccurrences(of: Self.hash, with: String(Self.hash.dropLast())))}]", "client_secret_sha256"),
            ("[{\(good.replacingOccurrences(of: Self.hash, with: String(Self.hash.dropLast(2)) + "zz"))}]", "client_secret_sha256"),
            ("[{\(good.replacingOccurrences(of: Self.hash, with: Self.hash + "00"))}]", "client_secret_sha256"),
            ("[{\(good.replacingOccurrences(of: "\"N\"", with: "\" \""))}]", "name"),
            ("[{\(good.replacingOccurrences(of: "[\"https://a.example/cb\"]", with: "[]"))}]", "redirect_uris"),
            ("[{\(good.replacingOccurrences(of: "https://a.example/cb", with: "javascript:alert(1)"))}]", "javascript:alert(1)"),
            ("[{\(good)}, {\(good)}]", "entry 1: client_id 'c' appears twice"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try StaticClients.parse(Data(text.utf8)), text) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error) lacks \(expected)")
            }
        }
    }

    func testStaticClientRecordKeepsTheHashNotASecret() {
        let record = StaticClient(clientID: "c", secretHash: Self.hash, name: "N", redirectURIs: ["https://a.example/cb"])
            .record(loadedAt: Date(timeIntervalSince1970: 0))
        XCTAssertEqual(record.secretHash, Self.hash)
        XCTAssertTrue(record.allowsRefreshTokenGrant)
    }

    // MARK: - Configuration

    let minimal = ["FJMCP_PUBLIC_URL": "https://mcp.example.org", "FORGEJO_URL": "https://forgejo.example.org",
                   "FORGEJO_CLIENT_ID": "id", "FORGEJO_CLIENT_SECRET": "secret"]

    func problems(_ extra: [String: String], arguments: [String] = []) -> [String] {
        do {
            _ = try BrokerConfig.load(from: ConfigSource(environment: minimal.merging(extra) { $1 }, arguments: arguments))
            return []
        } catch {
            return error.problems
        }
    }

    func testConfigurationLoadsTheAccessSettings() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("static-\(UUID().uuidString).json")
        try Data(#"[{"client_id": "c", "client_secret_sha256": "\#(Self.hash)", "name": "N", "redirect_uris": ["https://a.example/cb"]}]"#.utf8)
            .write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let config = try BrokerConfig.load(from: ConfigSource(environment: minimal.merging([
            "FJMCP_ALLOWED_USERS": "alice", "FJMCP_ALLOWED_ORGS": "acme,acme/ops", "FJMCP_ACCESS_CONTACT": "ops@example.org",
            "FJMCP_ALLOWED_REDIRECT_HOSTS": "claude.ai,cursor:", "FJMCP_ALLOWED_CLIENT_ID_HOSTS": "claude.ai",
        ]) { $1 }, arguments: ["--static-clients-file", file.path]))
        XCTAssertEqual(config.access.signIn.users, ["alice"])
        XCTAssertEqual(config.access.signIn.organizations, ["acme"])
        XCTAssertEqual(config.access.signIn.teams, ["acme/ops"])
        XCTAssertEqual(config.access.contact, "ops@example.org")
        XCTAssertEqual(config.access.redirectHosts?.schemes, ["cursor"])
        XCTAssertEqual(config.access.clientIDHosts?.hosts, ["claude.ai"])
        XCTAssertEqual(config.access.staticClients.map(\.clientID), ["c"])
        let defaults = try BrokerConfig.load(from: ConfigSource(environment: minimal))
        XCTAssertTrue(defaults.access.signIn.isOpen)
        XCTAssertNil(defaults.access.redirectHosts)
        XCTAssertNil(defaults.access.clientIDHosts)
        XCTAssertEqual(defaults.access.staticClients, [])
    }

    func testConfigurationNamesEachBadAccessSetting() {
        XCTAssertEqual(problems(["FJMCP_ALLOWED_ORGS": "acme/"]),
                       ["FJMCP_ALLOWED_ORGS: 'acme/' is invalid: expected an organisation name or org/team"])
        XCTAssertEqual(problems(["FJMCP_ALLOWED_USERS": "alice, b@d", "FJMCP_ALLOWED_ORGS": "acme"]),
                       ["FJMCP_ALLOWED_USERS: 'b@d' is invalid: not a Forgejo login"])
        XCTAssertEqual(problems(["FJMCP_ALLOWED_REDIRECT_HOSTS": "https://claude.ai"]).count, 1)
        XCTAssertTrue(problems(["FJMCP_ALLOWED_CLIENT_ID_HOSTS": "cursor:"]).first?.contains("only host names") ?? false)
        XCTAssertTrue(problems(["FJMCP_STATIC_CLIENTS_FILE": "/nonexistent/clients.json"]).first?.contains("cannot be read") ?? false)
        XCTAssertEqual(problems(["FJMCP_ALLOWED_ORGS": "acme", "FORGEJO_SCOPES": "read:user read:repository"]),
                       ["FJMCP_ALLOWED_ORGS needs the Forgejo scope read:organization, which FORGEJO_SCOPES=read:user read:repository does not grant"])
        XCTAssertEqual(problems(["FJMCP_ALLOWED_ORGS": "acme", "FORGEJO_SCOPES": "read:user read:organization"]), [])
    }
}
