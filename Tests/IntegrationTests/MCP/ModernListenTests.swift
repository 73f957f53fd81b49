import AsyncHTTPClient
import BrokerKit
import Foundation
import XCTest

/// `subscriptions/listen` over real HTTP with the demo child started with `--notify` (resources
/// with subscriptions, and a `notify` tool that makes it send change notifications, during a
/// call or later outside any call).
final class ModernListenTests: XCTestCase {
    private static let subscriptionKey = "io.modelcontextprotocol/subscriptionId"

    private func open(_ client: MCPTestClient, id: Any, notifications: [String: Any]) async throws -> MCPStream {
        let (body, headers) = ModernEraTests.request(id: id, method: "subscriptions/listen", params: ["notifications": notifications])
        return try await client.stream(client.request(body: body, headers: headers))
    }

    private func notify(_ client: MCPTestClient, _ kind: String, uri: String? = nil, delayMs: Int = 0) async throws -> MCPReply {
        var arguments: [String: Any] = ["kind": kind, "delayMs": delayMs]
        if let uri { arguments["uri"] = uri }
        return try await client.modern(id: "notify-\(kind)", method: "tools/call", params: ["name": "notify", "arguments": arguments])
    }

    /// The stream's next message, or nil when none comes within `seconds`.
    private func next(_ stream: MCPStream, within seconds: Double = 5) async -> [String: Any]? {
        let text = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                for await text in stream.messages { return text }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(seconds))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        return text.flatMap(MCPReply.object)
    }

    private static func subscription(of message: [String: Any]?) -> Any? {
        ((message?["params"] as? [String: Any])?["_meta"] as? [String: Any])?[subscriptionKey]
    }

    func testModernListenAcknowledgesThenDeliversOnlyOptedInChangesTagged() async throws {
        let broker = try await MCPTestBroker.start(childOptions: ["--notify"])
        defer { Task { await broker.stop() } }
        let client = try await broker.client()
        let stream = try await open(client, id: "sub-1", notifications: [
            "toolsListChanged": true, "promptsListChanged": true, "resourceSubscriptions": ["demo://counter"],
        ])
        XCTAssertEqual(stream.status, 200)
        XCTAssertTrue(stream.headers["content-type"].first?.hasPrefix("text/event-stream") ?? false)
        let ack = await next(stream)
        XCTAssertEqual(ack?["method"] as? String, "notifications/subscriptions/acknowledged", "\(ack ?? [:])")
        XCTAssertEqual(Self.subscription(of: ack) as? String, "sub-1")
        let honored = (ack?["params"] as? [String: Any])?["notifications"] as? [String: Any]
        XCTAssertEqual(honored?["toolsListChanged"] as? Bool, true)
        XCTAssertNil(honored?["promptsListChanged"], "the child has no prompts, so that is not honoured")
        XCTAssertEqual(honored?["resourceSubscriptions"] as? [String], ["demo://counter"])

        // Sent while the notify call is the child's only pending request (the bridge hands it to that call).
        let during = try await notify(client, "tools")
        XCTAssertEqual(during.structured?["sent"] as? Bool, true, during.body)
        let toolsChanged = await next(stream)
        XCTAssertEqual(toolsChanged?["method"] as? String, "notifications/tools/list_changed", "\(toolsChanged ?? [:])")
        XCTAssertEqual(Self.subscription(of: toolsChanged) as? String, "sub-1")

        // The resource subscription reached the child: it only announces subscribed URIs.
        let updated = try await notify(client, "updated", uri: "demo://counter", delayMs: 50)
        XCTAssertEqual(updated.structured?["sent"] as? Bool, true, "the broker subscribed the child: \(updated.body)")
        let update = await next(stream)
        XCTAssertEqual(update?["method"] as? String, "notifications/resources/updated", "\(update ?? [:])")
        XCTAssertEqual((update?["params"] as? [String: Any])?["uri"] as? String, "demo://counter")
        XCTAssertEqual(Self.subscription(of: update) as? String, "sub-1")

        // Not opted in: resources/list_changed never arrives; the next tools change does (order kept).
        _ = try await notify(client, "resources", delayMs: 20)
        _ = try await notify(client, "tools", delayMs: 60)
        let afterUnrequested = await next(stream)
        XCTAssertEqual(afterUnrequested?["method"] as? String, "notifications/tools/list_changed",
                       "resources/list_changed was not requested: \(afterUnrequested ?? [:])")

        stream.close()
        let unsubscribed = await eventually {
            let listeners = await broker.host.listenerCount(userID: 101)
            guard listeners == 0 else { return false }
            let reply = try? await self.notify(client, "updated", uri: "demo://counter")
            return reply?.structured?["sent"] as? Bool == false
        }
        XCTAssertTrue(unsubscribed, "closing the last listener unsubscribed the child")
    }

    func testModernListenersAreSeparatedByUserAndBothGetTheirOwnChildsChanges() async throws {
        let broker = try await MCPTestBroker.start(childOptions: ["--notify"])
        defer { Task { await broker.stop() } }
        let alice = try await broker.client()
        let bob = try await broker.client(login: "bob")
        let aliceStream = try await open(alice, id: 1, notifications: ["toolsListChanged": true])
        let bobStream = try await open(bob, id: 2, notifications: ["toolsListChanged": true])
        let aliceAck = await next(aliceStream)
        let bobAck = await next(bobStream)
        XCTAssertEqual(Self.subscription(of: aliceAck) as? Int, 1)
        XCTAssertEqual(Self.subscription(of: bobAck) as? Int, 2)
        let second = try await open(alice, id: 3, notifications: ["toolsListChanged": true])
        _ = await next(second)

        _ = try await notify(alice, "tools", delayMs: 30)
        let first = await next(aliceStream)
        let other = await next(second)
        XCTAssertEqual(first?["method"] as? String, "notifications/tools/list_changed")
        XCTAssertEqual(Self.subscription(of: other) as? Int, 3, "each stream tags with its own id")
        let leaked = await next(bobStream, within: 0.5)
        XCTAssertNil(leaked, "alice's child's change never reaches bob")
        aliceStream.close()
        second.close()
        bobStream.close()
    }

    func testModernListenRejectsMalformedFiltersAndEndsGracefullyAtShutdown() async throws {
        let broker = try await MCPTestBroker.start(childOptions: ["--notify"])
        let client = try await broker.client()
        let bad: [(String, [String: Any])] = [
            ("no notifications", [:]),
            ("flag not a boolean", ["notifications": ["toolsListChanged": 1]]),
            ("uris not strings", ["notifications": ["resourceSubscriptions": [1]]]),
        ]
        for (name, params) in bad {
            let reply = try await client.modern(method: "subscriptions/listen", params: params)
            XCTAssertEqual(reply.status, 400, "\(name): \(reply.body)")
            XCTAssertEqual(reply.errorCode, -32602, name)
        }
        let stream = try await open(client, id: "s", notifications: ["resourcesListChanged": true])
        let ack = await next(stream)
        XCTAssertEqual(((ack?["params"] as? [String: Any])?["notifications"] as? [String: Bool]), ["resourcesListChanged": true])
        await broker.host.shutdown()
        let end = await next(stream)
        XCTAssertEqual(end?["id"] as? String, "s", "graceful end: the SubscriptionsListenResult \(end ?? [:])")
        XCTAssertEqual((end?["result"] as? [String: Any])?["resultType"] as? String, "complete")
        XCTAssertEqual(((end?["result"] as? [String: Any])?["_meta"] as? [String: Any])?[Self.subscriptionKey] as? String, "s")
        await broker.stop()
    }
}
