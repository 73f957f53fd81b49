import XCTest

/// The fake Forgejo and store every upstream-token test starts from, created anew per test.
class UpstreamTokenTestCase: XCTestCase {
    var harness: UpstreamTokenHarness!
    let userID = UpstreamTokenHarness.userID

    override func setUp() async throws {
        harness = try await UpstreamTokenHarness()
    }

    override func tearDown() async throws {
        try await harness?.shutdown()
    }
}
