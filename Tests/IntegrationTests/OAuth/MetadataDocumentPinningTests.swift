import BrokerKit
import Foundation
import XCTest

/// The metadata-document fetch connects to the address it checked, never to a second lookup's.
final class MetadataDocumentPinningTests: XCTestCase {
    /// Answers from a script, one answer per lookup, and counts the lookups.
    actor ScriptedResolver: HostResolver {
        private var answers: [[IPAddress]]
        private(set) var lookups: [String] = []

        init(_ answers: [[String]]) { self.answers = answers.map { $0.compactMap(IPAddress.init(parsing:)) } }

        func addresses(of host: String) async throws -> [IPAddress] {
            lookups.append(host)
            return answers.isEmpty ? [] : answers.removeFirst()
        }
    }

    func testFetchConnectsToTheCheckedAddressOfAName() async throws {
        let host = try await DocumentHost.start()
        // "docs.invalid" exists in no DNS: the request can only reach the host through the pin.
        let base = host.baseURL.replacingOccurrences(of: "127.0.0.1", with: "docs.invalid")
        let clientID = base + "/client.json"
        await host.serve("/client.json", body: #"{"client_id":"\#(clientID)","client_name":"Pinned","redirect_uris":["http://127.0.0.1:7777/cb"]}"#)
        // A rebinding resolver would send a second lookup elsewhere; there must be none.
        let resolver = ScriptedResolver([["127.0.0.1"], ["10.9.9.9"]])
        let fetcher = MetadataDocumentFetcher(resolver: resolver, allowPrivate: true, allowedPorts: nil, timeout: .seconds(5))

        let client = try await fetcher.fetch(clientID, now: Date())

        XCTAssertEqual(client.name, "Pinned")
        let lookups = await resolver.lookups
        XCTAssertEqual(lookups, ["docs.invalid"], "resolved once, for the check")
        let fetches = await host.fetches
        XCTAssertEqual(fetches, 1)
        await host.stop()
    }

    func testNameWithAnyPrivateAddressIsRefusedBeforeConnecting() async throws {
        let resolver = ScriptedResolver([["93.184.215.14", "10.0.0.7"]])
        let fetcher = MetadataDocumentFetcher(resolver: resolver, allowPrivate: false, timeout: .seconds(1))
        do {
            _ = try await fetcher.fetch("https://mixed.invalid/client.json", now: Date())
            XCTFail("a name with a private address must be refused")
        } catch {
            XCTAssertEqual(error, .privateAddress)
        }
    }

    func testPlainHTTPToANameIsRefusedUnlessItResolvesToLoopbackInTestMode() async throws {
        let fetcher = MetadataDocumentFetcher(resolver: ScriptedResolver([["10.0.0.7"]]), allowPrivate: true, allowedPorts: nil, timeout: .seconds(1))
        do {
            _ = try await fetcher.fetch("http://intranet.invalid/client.json", now: Date())
            XCTFail("plain http is for loopback test hosts only")
        } catch {
            XCTAssertEqual(error, .notHTTPS)
        }
    }

    func testAddressTextRoundTrips() throws {
        for text in ["192.0.2.1", "127.0.0.1", "2001:db8::1", "::1", "fe80::1:2"] {
            XCTAssertEqual(try XCTUnwrap(IPAddress(parsing: text)).text, text)
        }
    }
}
