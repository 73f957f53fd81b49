import Foundation
import XCTest

@testable import BrokerKit

/// The pure parts of the tool policy: globs, annotation reading, the decision, list filtering.
final class ToolPolicyTests: XCTestCase {
    private func pattern(_ text: String) throws -> ToolNamePattern { try ToolNamePattern(text) }

    func testGlobsMatchWholeNamesWithStarAndQuestionMark() throws {
        XCTAssertTrue(try pattern("get_*").matches("get_issue"))
        XCTAssertTrue(try pattern("get_*").matches("get_"))
        XCTAssertFalse(try pattern("get_*").matches("forget_issue"))
        XCTAssertTrue(try pattern("*_repo").matches("delete_repo"))
        XCTAssertFalse(try pattern("*_repo").matches("delete_repo_hook"))
        XCTAssertTrue(try pattern("*").matches(""))
        XCTAssertTrue(try pattern("list_?").matches("list_a"))
        XCTAssertFalse(try pattern("list_?").matches("list_"))
        XCTAssertFalse(try pattern("list_?").matches("list_ab"))
        XCTAssertTrue(try pattern("a*b*c").matches("axxbyyc"))
        XCTAssertFalse(try pattern("a*b*c").matches("axxbyy"))
        XCTAssertTrue(try pattern("echo").matches("echo"))
        XCTAssertFalse(try pattern("echo").matches("Echo"), "names are case-sensitive")
    }

    func testManyStarsStayFast() throws {
        let glob = try pattern(String(repeating: "*a", count: 60) + "b")
        let clock = ContinuousClock()
        let elapsed = clock.measure { XCTAssertFalse(glob.matches(String(repeating: "a", count: 128))) }
        XCTAssertLessThan(elapsed, .seconds(1))
    }

    func testBadPatternsAreRefusedWithTheirText() {
        XCTAssertThrowsError(try ToolNamePattern("")) { XCTAssertEqual($0 as? ToolNamePattern.Invalid, .empty) }
        XCTAssertThrowsError(try ToolNamePattern("[a-z]*")) { XCTAssertEqual($0 as? ToolNamePattern.Invalid, .character("[")) }
        XCTAssertThrowsError(try ToolNamePattern("get {x}"))
        guard case .failure(let error) = ToolNamePattern.list("get_*, ,bad[,{x}") else { return XCTFail("accepted") }
        XCTAssertEqual(error.problems.count, 2)
        XCTAssertTrue(error.description.contains("'bad['"))
        XCTAssertTrue(error.description.contains("'{x}'"))
        guard case .success(let list) = ToolNamePattern.list(" get_* ,list_*,,") else { return XCTFail("refused") }
        XCTAssertEqual(list.map(\.text), ["get_*", "list_*"])
    }

    func testAnnotationsAreReadAsTheySayExceptMcpGoSeededDefaults() {
        XCTAssertEqual(ToolSafety.classify(annotations: nil), .unannotated)
        XCTAssertEqual(ToolSafety.classify(annotations: [String: Any]()), .unannotated)
        XCTAssertEqual(ToolSafety.classify(annotations: json(#"{"readOnlyHint":true}"#)), .readOnly)
        XCTAssertEqual(ToolSafety.classify(annotations: json(#"{"readOnlyHint":false}"#)), .notReadOnly)
        XCTAssertEqual(ToolSafety.classify(annotations: json(#"{"destructiveHint":true}"#)), .notReadOnly)
        XCTAssertEqual(ToolSafety.classify(annotations: json(#"{"readOnlyHint":1}"#)), .notReadOnly, "a number is not a boolean")
        let seeded = #"{"readOnlyHint":false,"destructiveHint":true,"idempotentHint":false,"openWorldHint":true}"#
        XCTAssertEqual(ToolSafety.classify(annotations: json(seeded)), .unannotated)
        let titled = #"{"title":"Delete","readOnlyHint":false,"destructiveHint":true,"idempotentHint":false,"openWorldHint":true}"#
        XCTAssertEqual(ToolSafety.classify(annotations: json(titled)), .notReadOnly, "a title means someone annotated it")
    }

    func testDenyWinsThenAllowThenReadOnly() throws {
        let policy = ToolPolicy(allow: [try pattern("get_*"), try pattern("delete_*")], deny: [try pattern("delete_repo")])
        XCTAssertNil(policy.refusal(of: "get_issue", safety: .unannotated))
        XCTAssertNil(policy.refusal(of: "delete_branch", safety: .unannotated))
        XCTAssertEqual(policy.refusal(of: "delete_repo", safety: .readOnly)?.setting, "FJMCP_TOOLS_DENY")
        XCTAssertEqual(policy.refusal(of: "delete_repo", safety: .readOnly)?.detail, "matches 'delete_repo'")
        XCTAssertEqual(policy.refusal(of: "create_issue", safety: .unannotated)?.setting, "FJMCP_TOOLS_ALLOW")
        XCTAssertEqual(policy.refusal(of: nil, safety: .unannotated)?.setting, "FJMCP_TOOLS_DENY,FJMCP_TOOLS_ALLOW")
        XCTAssertNil(ToolPolicy().refusal(of: nil, safety: .unannotated), "no policy refuses nothing")
    }

    func testReadOnlyPresetFailsClosed() {
        let policy = ToolPolicy(readOnly: true)
        XCTAssertNil(policy.refusal(of: "anything", safety: .readOnly))
        XCTAssertEqual(policy.refusal(of: "get_issue", safety: .notReadOnly)?.setting, "FJMCP_READ_ONLY")
        for name in ["get_issue_by_index", "list_my_repos", "search_repos", "download_issue_attachment", "check_notifications"] {
            XCTAssertNil(policy.refusal(of: name, safety: .unannotated), name)
        }
        for name in ["create_issue", "delete_repo", "merge_pull_request", "mark_all_notifications_read", "sleep", "getter"] {
            XCTAssertEqual(policy.refusal(of: name, safety: .unannotated)?.setting, "FJMCP_READ_ONLY", name)
        }
    }

    func testLoadReportsEveryBadSetting() {
        var reader = ConfigReader(source: ConfigSource(environment: [
            "FJMCP_TOOLS_ALLOW": "get_*,x[", "FJMCP_TOOLS_DENY": "a b", "FJMCP_READ_ONLY": "yes",
        ]), problems: [])
        XCTAssertNil(reader.toolPolicy())
        XCTAssertEqual(reader.problems.count, 3)
        XCTAssertTrue(reader.problems[0].hasPrefix("FJMCP_TOOLS_ALLOW is invalid: 'x['"))
        XCTAssertEqual(reader.problems[2], "FJMCP_READ_ONLY=yes is invalid: expected true or false")
        reader = ConfigReader(source: ConfigSource(environment: ["FJMCP_TOOLS_DENY": " delete_* ,", "FJMCP_READ_ONLY": " TRUE "]), problems: [])
        let loaded = reader.toolPolicy()
        XCTAssertEqual(loaded?.deny.map(\.text), ["delete_*"])
        XCTAssertEqual(loaded?.readOnly, true)
        XCTAssertEqual(reader.problems, [])
        reader = ConfigReader(source: ConfigSource(environment: [:]), problems: [])
        XCTAssertEqual(reader.toolPolicy(), ToolPolicy())
    }

    func testCallNameIsReadFromTheBytesAndCaseVariantsNeverReachIt() throws {
        let call = try JSONRPCMessage(Array(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"x"},"name":"de\u006cete_repo"}}"#.utf8),
                                      memberNames: .strict)
        XCTAssertEqual(call.toolCallName, "delete_repo")
        let numeric = try JSONRPCMessage(Array(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#.utf8), memberNames: .strict)
        XCTAssertNil(numeric.toolCallName)
        XCTAssertThrowsError(try JSONRPCMessage(Array(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"delete_repo"}}"#.utf8),
                                                memberNames: .strict))
        XCTAssertThrowsError(try JSONRPCMessage(Array(#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"delete_repo"}}"#.utf8),
                                                memberNames: .strict))
    }

    func testRefusedCallGetsAnErrorNamingThePolicy() throws {
        let gate = ToolGate(policy: ToolPolicy(deny: [try pattern("delete_*")]))
        let call = try JSONRPCMessage(Array(#"{"jsonrpc":"2.0","id":"a1","method":"tools/call","params":{"name":"delete_repo"}}"#.utf8))
        let refused = try XCTUnwrap(gate.refusalAnswer(to: call))
        XCTAssertEqual(refused.setting, "FJMCP_TOOLS_DENY")
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(refused.answer)) as? [String: Any])
        XCTAssertEqual(object["id"] as? String, "a1")
        let error = try XCTUnwrap(object["error"] as? [String: Any])
        XCTAssertEqual(error["code"] as? Int, -32602)
        XCTAssertTrue((error["message"] as? String ?? "").contains("FJMCP_TOOLS_DENY"))
        XCTAssertEqual((error["data"] as? [String: Any])?["policy"] as? String, "FJMCP_TOOLS_DENY")
        let allowed = try JSONRPCMessage(Array(#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo"}}"#.utf8))
        XCTAssertNil(gate.refusalAnswer(to: allowed))
        let list = try JSONRPCMessage(Array(#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#.utf8))
        XCTAssertNil(gate.refusalAnswer(to: list))
    }

    func testListFilterKeepsBytesWhenNothingIsRemovedAndLearnsAnnotations() throws {
        let gate = ToolGate(policy: ToolPolicy(readOnly: true))
        let list = Array(#"{"jsonrpc":"2.0","id":1.0,"result":{"tools":[{"name":"echo","annotations":{"readOnlyHint":true}},{"name":"get_x"},{"name":"crash","annotations":{"readOnlyHint":false}},{"name":"sleep"}],"nextCursor":"c"}}"#.utf8)
        let filtered = gate.filterToolsList(list)
        XCTAssertTrue(String(decoding: filtered, as: UTF8.self).hasPrefix(#"{"jsonrpc":"2.0","id":1.0,"result":"#), "the id is kept byte for byte")
        let result = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(filtered)) as? [String: Any])?["result"] as? [String: Any])
        XCTAssertEqual((result["tools"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["echo", "get_x"])
        XCTAssertEqual(result["nextCursor"] as? String, "c")
        // Learned: echo is annotated read-only (passes although not a read-only name); a
        // get_ tool annotated otherwise would be refused.
        XCTAssertNil(gate.refusal(ofTool: "echo"))
        XCTAssertNotNil(gate.refusal(ofTool: "crash"))
        XCTAssertNil(gate.refusal(ofTool: "get_never_listed"), "unlisted: judged by name")

        let allKept = Array(#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"get_y"}]}}"#.utf8)
        XCTAssertEqual(gate.filterToolsList(allKept), allKept)
        let error = Array(#"{"jsonrpc":"2.0","id":3,"error":{"code":-32603,"message":"x"}}"#.utf8)
        XCTAssertEqual(gate.filterToolsList(error), error)
        let unreadable = gate.filterToolsList(Array(#"{"jsonrpc":"2.0","id":4,"result":{"tools":"no"}}"#.utf8))
        XCTAssertTrue(String(decoding: unreadable, as: UTF8.self).contains("-32603"), "never passed unfiltered")
        XCTAssertEqual(ToolGate(policy: ToolPolicy()).filterToolsList(list), list, "no policy: untouched")
    }

    func testAListAnswerThatDoesNotParseIsReplacedByAnErrorWithAPolicy() throws {
        let gate = ToolGate(policy: ToolPolicy(readOnly: true))
        for garbage in [#"{"jsonrpc":"2.0","id":5,"result":{"tools":[{"name":"delete_repo"}]}"#, "not json", ""] {
            let answer = gate.filterToolsList(Array(garbage.utf8))
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(answer)) as? [String: Any], garbage)
            XCTAssertEqual((object["error"] as? [String: Any])?["code"] as? Int, -32603, garbage)
            XCTAssertTrue(object["id"] is NSNull, "no id could be read: null, as JSON-RPC says")
            XCTAssertFalse(String(decoding: answer, as: UTF8.self).contains("delete_repo"), "nothing of the list passes")
        }
        let forRequest = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: Data(gate.filterToolsList(Array("not json".utf8), requestID: Array(#""r7""#.utf8)))) as? [String: Any])
        XCTAssertEqual(forRequest["id"] as? String, "r7", "the request's id when the answer's cannot be read")
        XCTAssertEqual(ToolGate(policy: ToolPolicy()).filterToolsList(Array("not json".utf8)), Array("not json".utf8), "no policy: untouched")
    }

    private func json(_ text: String) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8))
    }
}
