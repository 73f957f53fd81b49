@testable import BrokerKit
import Foundation
import XCTest

/// The account page's sign-in cookie, session cookie and form token.
final class AccountSignInTests: XCTestCase {
    private let key = Array(repeating: UInt8(7), count: 32)
    private let now = Date(timeIntervalSince1970: 1_800_000_000)

    func testTheBrowserThatStartedTheSignInGetsItsVerifierBack() throws {
        let signIn = AccountSignIn(masterKey: key)
        let login = signIn.beginLogin(now: now)
        XCTAssertTrue(AccountSignIn.isAccountState(login.state))
        XCTAssertFalse(AccountSignIn.isAccountState(OpaqueToken.generate(.state)), "a client's Forgejo state is not an account one")
        XCTAssertEqual(try signIn.verifier(cookie: login.cookie, state: login.state, now: now.addingTimeInterval(60)), login.verifier)
    }

    func testAnotherBrowserAnotherStateAForgedOrExpiredCookieAreRefused() {
        let signIn = AccountSignIn(masterKey: key)
        let login = signIn.beginLogin(now: now)
        let other = signIn.beginLogin(now: now)
        XCTAssertThrowsError(try signIn.verifier(cookie: nil, state: login.state, now: now)) {
            XCTAssertEqual($0 as? AccountSignIn.LoginProblem, .cookieMissing)
        }
        XCTAssertThrowsError(try signIn.verifier(cookie: other.cookie, state: login.state, now: now)) {
            XCTAssertEqual($0 as? AccountSignIn.LoginProblem, .stateMismatch)
        }
        XCTAssertThrowsError(try signIn.verifier(cookie: login.cookie + "x", state: login.state, now: now)) {
            XCTAssertEqual($0 as? AccountSignIn.LoginProblem, .cookieUnreadable)
        }
        XCTAssertThrowsError(try AccountSignIn(masterKey: Array(repeating: 8, count: 32))
            .verifier(cookie: login.cookie, state: login.state, now: now)) {
            XCTAssertEqual($0 as? AccountSignIn.LoginProblem, .cookieUnreadable, "sealed with another key")
        }
        XCTAssertThrowsError(try signIn.verifier(cookie: login.cookie, state: login.state,
                                                 now: now.addingTimeInterval(AccountSignIn.loginLifetime + 1))) {
            XCTAssertEqual($0 as? AccountSignIn.LoginProblem, .expired)
        }
    }

    func testSessionsNameTheirUserUntilTheyExpireAndCannotBeForged() {
        let signIn = AccountSignIn(masterKey: key)
        let session = signIn.session(userID: 42, now: now)
        XCTAssertEqual(signIn.userID(session: session, now: now.addingTimeInterval(60)), 42)
        XCTAssertNil(signIn.userID(session: session, now: now.addingTimeInterval(AccountSignIn.sessionLifetime + 1)))
        XCTAssertNil(signIn.userID(session: session.replacingOccurrences(of: "42|", with: "43|"), now: now))
        XCTAssertNil(signIn.userID(session: nil, now: now))
        XCTAssertNil(signIn.userID(session: "42|9999999999|x", now: now), "unsigned")
    }

    func testFormTokensAreBoundToTheSessionAndSurviveAKeyRotation() {
        let signIn = AccountSignIn(masterKey: key)
        let session = signIn.session(userID: 42, now: now)
        let token = signIn.csrfToken(session: session)
        XCTAssertTrue(signIn.isValidCSRF(token, session: session))
        XCTAssertFalse(signIn.isValidCSRF(token, session: signIn.session(userID: 42, now: now)), "another sign-in")
        XCTAssertFalse(signIn.isValidCSRF(nil, session: session))
        let rotated = AccountSignIn(masterKey: Array(repeating: 9, count: 32), previousMasterKeys: [key])
        XCTAssertEqual(rotated.userID(session: session, now: now), 42, "a session made with the previous key stays valid")
    }

    func testRedirectHostsNameEachHostOnceAndPrivateSchemesByScheme() {
        XCTAssertEqual(AuthorizationServer.redirectHosts([
            "https://claude.ai/api/mcp/auth_callback", "https://claude.ai/other", "http://127.0.0.1:3000/cb",
            "cursor://anysphere.cursor-mcp/oauth/callback", "not a uri",
        ]), ["claude.ai", "127.0.0.1", "cursor:"])
    }
}
