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
        XCTAssertEqual(table.attribution(), .unattributed)
        let only = register(&table, origin: "client-a", id: 1)
        XCTAssertEqual(table.attribution(), .call(only))
    }

    func testSeveralCallsOfOneClientAreLeftToTheHostOfSeveralClientsAmbiguous() {
        var table = ChildIDTable()
        _ = register(&table, origin: "client-a", id: 1)
        _ = register(&table, origin: "client-a", id: 2)
        XCTAssertEqual(table.attribution(), .unattributed, "one client: its host picks among its calls")
        _ = register(&table, origin: "client-b", id: 1)
        XCTAssertEqual(table.attribution(), .ambiguous, "two clients: never guessed")
    }
}
