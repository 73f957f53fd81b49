import Hummingbird
import Logging
import XCTest

@testable import BrokerKit

/// An admin request whose database does not answer is a 503 that says what failed, not an empty
/// 500 (`fjmcp-broker sessions` printed "the broker answered 500: " while PostgreSQL was down);
/// an HTTP answer of the handler's own (404 outside replica mode) passes unchanged.
final class AdminAnsweringTests: XCTestCase {
    private struct StoreDown: Error {}

    func testAStoreFailureIsA503SayingWhatFailed() async {
        do {
            _ = try await AdminServer.answering("list the replicas' sessions", logger: Logger(label: "test")) { throw StoreDown() }
            XCTFail("answered")
        } catch let error as HTTPError {
            XCTAssertEqual(error.status, .serviceUnavailable)
            XCTAssertEqual(error.body, "could not list the replicas' sessions: the broker's database did not answer (see the broker's log)")
        } catch {
            XCTFail("\(error)")
        }
    }

    func testTheHandlersOwnHTTPAnswerPassesUnchanged() async {
        do {
            _ = try await AdminServer.answering("list", logger: Logger(label: "test")) {
                throw HTTPError(.notFound, message: "replica mode is off")
            }
            XCTFail("answered")
        } catch let error as HTTPError {
            XCTAssertEqual(error.status, .notFound)
            XCTAssertEqual(error.body, "replica mode is off")
        } catch {
            XCTFail("\(error)")
        }
    }
}
