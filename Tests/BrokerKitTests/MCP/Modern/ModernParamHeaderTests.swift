import Foundation
import HTTPTypes
import XCTest

@testable import BrokerKit

/// `x-mcp-header` parsing and `Mcp-Param-*` validation for what the demo child cannot show:
/// booleans, nested paths, invalid annotations, and the MRTR capability rules.
final class ModernParamHeaderTests: XCTestCase {
    private static var tools: [[String: Any]] { [
        [
            "name": "deploy",
            "inputSchema": [
                "type": "object",
                "properties": [
                    "region": ["type": "string", "x-mcp-header": "Region"],
                    "dryRun": ["type": "boolean", "x-mcp-header": "Dry-Run"],
                    "target": ["type": "object", "properties": ["replicas": ["type": "integer", "x-mcp-header": "Replicas"]]],
                    "ratio": ["type": "number", "x-mcp-header": "Ratio"],
                ] as [String: Any],
            ] as [String: Any],
        ],
        ["name": "dup", "inputSchema": ["properties": [
            "a": ["type": "string", "x-mcp-header": "X"], "b": ["type": "string", "x-mcp-header": "x"],
        ] as [String: Any]] as [String: Any]],
        ["name": "bad-token", "inputSchema": ["properties": ["a": ["type": "string", "x-mcp-header": "has space"]] as [String: Any]]],
        ["name": "plain", "inputSchema": ["properties": ["a": ["type": "string"]] as [String: Any]]],
    ] }

    func testModernCatalogKeepsOnlyValidAnnotations() {
        let catalog = ChildTools.annotations(ofTools: Self.tools)
        XCTAssertEqual(Set(catalog.keys), ["deploy"], "duplicates drop the tool's annotations; invalid names and plain tools have none")
        XCTAssertEqual(catalog["deploy"], [
            ParamHeader(path: ["dryRun"], name: "Dry-Run", kind: .boolean),
            ParamHeader(path: ["region"], name: "Region", kind: .string),
            ParamHeader(path: ["target", "replicas"], name: "Replicas", kind: .integer),
        ], "numbers are not allowed, nested properties are")
    }

    private func check(_ arguments: [String: Any], _ headers: HTTPFields) -> ModernRequestError.Kind? {
        let declared = ChildTools.annotations(ofTools: Self.tools)["deploy"] ?? []
        do {
            try ModernParamValidation.validate(arguments: arguments, headers: headers, declared: declared)
            return nil
        } catch {
            return error
        }
    }

    private func field(_ name: String) -> HTTPField.Name { HTTPField.Name(name)! }

    func testModernParamValidationComparesByType() {
        let all: HTTPFields = [field("Mcp-Param-Region"): "eu", field("Mcp-Param-Dry-Run"): "true", field("Mcp-Param-Replicas"): "3"]
        XCTAssertNil(check(["region": "eu", "dryRun": true, "target": ["replicas": 3]], all))
        XCTAssertNil(check([:], [:]), "nothing in the body, nothing expected")
        XCTAssertNil(check(["region": "eu"], [field("mcp-param-region"): "eu"]))
        XCTAssertNil(check(["target": ["replicas": -7]], [field("Mcp-Param-Replicas"): "-7"]))

        let mismatches: [(String, [String: Any], HTTPFields)] = [
            ("boolean spelled differently", ["dryRun": true], [field("Mcp-Param-Dry-Run"): "True"]),
            ("boolean for a number", ["dryRun": 1], [field("Mcp-Param-Dry-Run"): "true"]),
            ("integer for a boolean", ["target": ["replicas": true]], [field("Mcp-Param-Replicas"): "1"]),
            ("nested value missing its header", ["target": ["replicas": 3]], [:]),
            ("nested header without value", ["target": [:] as [String: Any]], [field("Mcp-Param-Replicas"): "3"]),
            ("integer out of Int64", ["target": ["replicas": 3]], [field("Mcp-Param-Replicas"): "99999999999999999999"]),
            ("tab inside a plain value", ["region": "e\tu"], [field("Mcp-Param-Region"): "e\tu"]),
        ]
        for (name, arguments, headers) in mismatches {
            guard case .headerMismatch? = check(arguments, headers) else { return XCTFail("\(name) must be -32020") }
        }
    }

    func testModernClientCapabilitiesDecideWhichInputRequestsMayBeSent() throws {
        func declared(_ json: String) throws -> ModernClientCapabilities {
            ModernClientCapabilities(try XCTUnwrap(JSONObjectView(Array(json.utf8))))
        }
        let none = try declared("{}")
        let form = try declared(#"{"elicitation":{}}"#)
        let url = try declared(#"{"elicitation":{"url":{}}}"#)
        let sampling = try declared(#"{"sampling":{},"roots":{}}"#)
        let formRequest = try XCTUnwrap(ModernClientCapabilities.required(for: "elicitation/create", params: ["message": "ok?"]))
        let urlRequest = try XCTUnwrap(ModernClientCapabilities.required(for: "elicitation/create", params: ["mode": "url"]))
        let toolSampling = try XCTUnwrap(ModernClientCapabilities.required(for: "sampling/createMessage", params: ["tools": []]))
        let roots = try XCTUnwrap(ModernClientCapabilities.required(for: "roots/list", params: [:]))
        XCTAssertNil(ModernClientCapabilities.required(for: "ping", params: [:]), "ping is answered by the broker, never sent")
        XCTAssertFalse(none.satisfies(formRequest))
        XCTAssertTrue(form.satisfies(formRequest), "an empty elicitation object means form mode")
        XCTAssertFalse(form.satisfies(urlRequest))
        XCTAssertTrue(url.satisfies(urlRequest))
        XCTAssertFalse(url.satisfies(formRequest), "declaring only url mode excludes forms")
        XCTAssertFalse(sampling.satisfies(toolSampling), "sampling with tools needs sampling.tools")
        XCTAssertTrue(sampling.satisfies(roots))
        XCTAssertFalse(form.satisfies(roots))
    }

    func testModernRequestStateRefusesEveryKindOfForgery() throws {
        let states = ModernRequestState()
        let digest = Array(repeating: UInt8(7), count: 32)
        let payload = ModernRequestState.Payload(handle: "h", method: "tools/call", digest: Base64URL.encode(digest),
                                                 expiresAt: Int64(Date().timeIntervalSince1970 * 1000) + 60_000)
        let sealed = states.seal(payload, userID: 1, clientID: "c")
        XCTAssertFalse(sealed.contains("tools/call"), "the state is encrypted, not just signed")
        XCTAssertEqual(try states.open(sealed, userID: 1, clientID: "c", method: "tools/call", digest: digest), payload)

        func failure(_ body: () throws(ModernRequestState.Failure) -> ModernRequestState.Payload) -> ModernRequestState.Failure? {
            do { _ = try body(); return nil } catch { return error }
        }
        var tampered = Array(sealed.utf8)
        tampered[tampered.count - 3] = tampered[tampered.count - 3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        XCTAssertEqual(failure { () throws(ModernRequestState.Failure) in
            try states.open(String(decoding: tampered, as: UTF8.self), userID: 1, clientID: "c", method: "tools/call", digest: digest)
        }, .invalid)
        XCTAssertEqual(failure { () throws(ModernRequestState.Failure) in
            try states.open(sealed, userID: 2, clientID: "c", method: "tools/call", digest: digest)
        }, .invalid, "another user's state")
        XCTAssertEqual(failure { () throws(ModernRequestState.Failure) in
            try states.open(sealed, userID: 1, clientID: "other", method: "tools/call", digest: digest)
        }, .invalid, "another client's state")
        XCTAssertEqual(failure { () throws(ModernRequestState.Failure) in
            try ModernRequestState().open(sealed, userID: 1, clientID: "c", method: "tools/call", digest: digest)
        }, .invalid, "another broker process's state")
        XCTAssertEqual(failure { () throws(ModernRequestState.Failure) in
            try states.open(sealed, userID: 1, clientID: "c", method: "prompts/get", digest: digest)
        }, .mismatch)
        XCTAssertEqual(failure { () throws(ModernRequestState.Failure) in
            try states.open(sealed, userID: 1, clientID: "c", method: "tools/call", digest: Array(repeating: 8, count: 32))
        }, .mismatch)
        XCTAssertEqual(failure { () throws(ModernRequestState.Failure) in
            try states.open(sealed, userID: 1, clientID: "c", method: "tools/call", digest: digest, now: Date().addingTimeInterval(61))
        }, .expired)
        XCTAssertEqual(failure { () throws(ModernRequestState.Failure) in
            try states.open("garbage", userID: 1, clientID: "c", method: "tools/call", digest: digest)
        }, .invalid)
        XCTAssertEqual(failure { () throws(ModernRequestState.Failure) in
            try states.open(String(repeating: "a", count: 10_000), userID: 1, clientID: "c", method: "tools/call", digest: digest)
        }, .invalid)
    }
}
