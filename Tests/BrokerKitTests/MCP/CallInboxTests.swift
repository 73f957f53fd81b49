import XCTest

@testable import BrokerKit

/// The inbox a call's events pass through (review finding: an injected server→client
/// request checked and buffered under two locks could land after the answer, unread, while its
/// sender waited for a reply forever).
final class CallInboxTests: XCTestCase {
    private let request = Array(#"{"jsonrpc":"2.0","id":"s-1","method":"elicitation/create","params":{}}"#.utf8)

    func testAMessageInjectedAfterTheAnswerWasHandedToTheReaderIsRefused() async {
        let inbox = CallInbox(limit: 1 << 20, overflowKind: .modernCall)
        XCTAssertTrue(inbox.yield(.response(Array(#"{"jsonrpc":"2.0","id":1,"result":{}}"#.utf8))))
        guard case .item(.response) = await inbox.next(until: .now + .seconds(5)) else { return XCTFail("the answer first") }
        XCTAssertFalse(inbox.inject(request), "nobody reads past the answer: the host must refuse it to the child")
    }

    func testAMessageInjectedBeforeTheAnswerReachesTheReader() async {
        let inbox = CallInbox(limit: 1 << 20, overflowKind: .modernCall)
        XCTAssertTrue(inbox.inject(request))
        guard case .item(.message(let bytes)) = await inbox.next(until: .now + .seconds(5)) else { return XCTFail("the message") }
        XCTAssertEqual(bytes, request)
    }

    func testAMessageInjectedAfterTheCallEndedIsRefused() {
        let inbox = CallInbox(limit: 1 << 20, overflowKind: .modernCall)
        inbox.finish()
        XCTAssertFalse(inbox.inject(request))
    }
}
