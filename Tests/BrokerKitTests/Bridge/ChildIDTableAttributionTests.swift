import XCTest

@testable import BrokerKit

/// Whose a child's server→client request is, decided from the pending calls alone.
final class ChildIDTableAttributionTests: XCTestCase {
    private struct NullSink: BridgeEventSink {
        var limit: Int { .max }
        func yield(_ event: BridgeEvent) -> Bool { true }
        func finish() {}
    }

    private func register(_ table: inout ChildIDTable, origin: String, id: Int64) -> Int64 {
        table.register(.init(origin: origin, clientID: .int(id), clientRawID: Array("\(id)".utf8), clientProgressToken: nil,
                             events: NullSink()))
    }

    func testNoPendingCallLeavesItUnattributedAndTheOnlyOneTakesIt() {
        var table = ChildIDTable()
        XCTAssertEqual(table.attribution(progressToken: nil), .unattributed)
        let only = register(&table, origin: "client-a", id: 1)
        XCTAssertEqual(table.attribution(progressToken: nil), .call(only))
    }

    func testSeveralCallsOfOneClientAreLeftToTheHostOfSeveralClientsAmbiguous() {
        var table = ChildIDTable()
        _ = register(&table, origin: "client-a", id: 1)
        let other = register(&table, origin: "client-a", id: 2)
        XCTAssertEqual(table.attribution(progressToken: nil), .unattributed, "one client: its host picks among its calls")
        _ = register(&table, origin: "client-b", id: 1)
        XCTAssertEqual(table.attribution(progressToken: nil), .ambiguous, "two clients: never guessed")
        XCTAssertEqual(table.attribution(progressToken: .int(other)), .call(other), "the child named the call by its token")
        XCTAssertEqual(table.attribution(progressToken: .int(999)), .ambiguous, "a token of no pending call names nothing")
        XCTAssertEqual(table.attribution(progressToken: .string("\(other)")), .ambiguous, "child-side tokens are integers")
    }
}
