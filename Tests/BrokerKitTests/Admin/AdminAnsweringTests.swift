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
        let error = await answered("list the replicas' sessions") { throw StoreDown() }
        XCTAssertEqual(error?.status, .serviceUnavailable)
        XCTAssertEqual(error?.body, "could not list the replicas' sessions: the broker's database did not answer (see the broker's log)")
    }

    func testTheHandlersOwnHTTPAnswerPassesUnchanged() async {
        let error = await answered("list") { throw HTTPError(.notFound, message: "replica mode is off") }
        XCTAssertEqual(error?.status, .notFound)
        XCTAssertEqual(error?.body, "replica mode is off")
    }

    /// The HTTP error `AdminServer.answering` turns a failing handler into (nil, and a failure,
    /// for anything else).
    private func answered(_ action: String, _ handler: () async throws -> Response,
                          file: StaticString = #filePath, line: UInt = #line) async -> HTTPError? {
        do {
            _ = try await AdminServer.answering(action, logger: Logger(label: "test"), handler)
            XCTFail("answered", file: file, line: line)
        } catch let error as HTTPError {
            return error
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
        return nil
    }
}
