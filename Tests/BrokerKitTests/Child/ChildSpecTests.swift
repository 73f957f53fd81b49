import XCTest

@testable import BrokerKit

final class ChildSpecTests: XCTestCase {
    func testCommandLineQuoting() throws {
        XCTAssertEqual(try ChildCommandLine.split("forgejo-mcp --transport stdio"), ["forgejo-mcp", "--transport", "stdio"])
        XCTAssertEqual(try ChildCommandLine.split(#"  a 'b c'  "d \"e\" \n" f\ g '' "#), ["a", "b c", #"d "e" \n"#, "f g", ""])
        XCTAssertEqual(try ChildCommandLine.split(#"x'$HOME'"#), ["x$HOME"])
    }

    func testCommandLineErrors() {
        for bad in ["", "   ", "a 'b", #"a "b"#, #"a\"#] {
            XCTAssertThrowsError(try ChildCommandLine.split(bad), bad) { error in
                guard case ChildError.invalidCommandLine = error else { return XCTFail("\(error)") }
            }
        }
    }

    func testEnvironmentIsBuiltFromScratch() throws {
        let spec = try ChildSpec(
            commandLine: "forgejo-mcp --transport stdio", forgejoURL: "https://forge.example", forgejoToken: "tok",
            extraEnvironment: ["LANG=C.UTF-8", "HOME", "UNSET_VAR", "FORGEJO_ACCESS_TOKEN=stolen"],
            brokerEnvironment: ["HOME": "/home/broker", "FJMCP_SECRET_KEY": "secret", "PATH": "/opt/bin"])
        XCTAssertEqual(
            spec.environment,
            [
                "PATH": ChildEnvironment.defaultPath, "LANG": "C.UTF-8", "HOME": "/home/broker",
                "FORGEJO_ACCESS_TOKEN": "tok", "FORGEJO_URL": "https://forge.example",
            ])
        XCTAssertEqual(spec.executable, "forgejo-mcp")
        XCTAssertEqual(spec.arguments, ["--transport", "stdio"])
        XCTAssertFalse(spec.description.contains("tok\""), "description must not show the token")
        XCTAssertFalse(spec.description.contains("=tok"))
    }

    func testCustomCredentialNames() throws {
        let spec = try ChildSpec(
            commandLine: "x", forgejoURL: "u", forgejoToken: "t", tokenVariable: "GITEA_ACCESS_TOKEN",
            urlVariable: "GITEA_HOST", brokerEnvironment: [:])
        XCTAssertEqual(spec.environment["GITEA_ACCESS_TOKEN"], "t")
        XCTAssertEqual(spec.environment["GITEA_HOST"], "u")
        XCTAssertNil(spec.environment["FORGEJO_ACCESS_TOKEN"])
    }

    func testInvalidEnvironmentEntries() {
        for bad in ["=x", "1ABC", "A-B=c", ""] {
            XCTAssertThrowsError(
                try ChildEnvironment.build(extraEntries: [bad], credentials: [:], brokerEnvironment: [:]), bad)
        }
        XCTAssertThrowsError(
            try ChildEnvironment.build(extraEntries: [], credentials: ["BAD NAME": "x"], brokerEnvironment: [:]))
    }

    func testEnvironmentNameRules() {
        for good in ["_", "A", "z", "_9", "FORGEJO_ACCESS_TOKEN", "lower_Case1"] {
            XCTAssertTrue(EnvironmentName.isValid(good), good)
        }
        for bad in ["", "1A", "9", "A-B", "A B", "A=B", "É", "AÉ", "A.B"] {
            XCTAssertFalse(EnvironmentName.isValid(bad), bad)
        }
    }

    func testExecutableResolution() throws {
        XCTAssertEqual(try ChildEnvironment.resolveExecutable("sh", path: "/nonexistent:/bin"), "/bin/sh")
        XCTAssertEqual(try ChildEnvironment.resolveExecutable("/bin/sh", path: nil), "/bin/sh")
        XCTAssertThrowsError(try ChildEnvironment.resolveExecutable("no-such-binary-fjmcp", path: "/bin")) { error in
            XCTAssertEqual(error as? ChildError, .executableNotFound("no-such-binary-fjmcp"))
        }
        XCTAssertThrowsError(try ChildEnvironment.resolveExecutable("/etc/passwd", path: nil))
    }
}

final class ChildLineSplitterTests: XCTestCase {
    private func feed(_ splitter: inout LineSplitter, _ text: String) throws -> [String] {
        var lines: [[UInt8]] = []
        try Array(text.utf8).withUnsafeBytes { bytes in try splitter.feed(bytes, into: &lines) }
        return lines.map { String(decoding: $0, as: UTF8.self) }
    }

    func testSplitsAcrossChunksAndStripsCR() throws {
        var splitter = LineSplitter(maxLine: 100, overflow: .fail)
        XCTAssertEqual(try feed(&splitter, "ab"), [])
        XCTAssertEqual(try feed(&splitter, "c\r\nde\n\nf"), ["abc", "de", ""])
        XCTAssertEqual(splitter.finish().map { String(decoding: $0, as: UTF8.self) }, "f")
        XCTAssertNil(splitter.finish())
    }

    func testOverlongLineFails() throws {
        var splitter = LineSplitter(maxLine: 4, overflow: .fail)
        XCTAssertEqual(try feed(&splitter, "abcd\n"), ["abcd"])
        XCTAssertThrowsError(try feed(&splitter, "abcde\n"))
        var split = LineSplitter(maxLine: 4, overflow: .fail)
        XCTAssertEqual(try feed(&split, "abc"), [])
        XCTAssertThrowsError(try feed(&split, "de"))
    }

    func testLineAcrossThreeChunksOwnsOnlyItsBytes() throws {
        var splitter = LineSplitter(maxLine: 1 << 20, overflow: .fail)
        var lines: [[UInt8]] = []
        func feed(_ text: String) throws {
            try Array(text.utf8).withUnsafeBytes { bytes in try splitter.feed(bytes, into: &lines) }
        }
        // Grows the pending buffer to tens of KiB, as a large response split by the pipe would.
        try feed(String(repeating: "x", count: 30_000))
        try feed("x\n")
        try feed("ab")
        try feed("cd")
        try feed("e\nfg\n")
        XCTAssertEqual(lines.map(\.count), [30_001, 5, 2])
        XCTAssertEqual(lines.dropFirst().map { String(decoding: $0, as: UTF8.self) }, ["abcde", "fg"])
        XCTAssertLessThan(lines[1].capacity, 1024, "a short line must not pin the earlier long line's buffer")
        XCTAssertNil(splitter.finish())
    }

    func testOverlongLineTruncates() throws {
        var splitter = LineSplitter(maxLine: 4, overflow: .truncate)
        XCTAssertEqual(try feed(&splitter, "abcdefgh"), [])
        XCTAssertEqual(try feed(&splitter, "ij\nxy\n"), ["abcd", "xy"])
    }
}

final class ChildLogRateLimiterTests: XCTestCase {
    func testBurstThenDropThenRefill() {
        let start = ContinuousClock.now
        var limiter = LogRateLimiter(LogRateLimit(burst: 3, perSecond: 2), now: start)
        XCTAssertEqual((0..<3).map { _ in limiter.admit(now: start) }, Array(repeating: .log(suppressedBefore: 0), count: 3))
        XCTAssertEqual(limiter.admit(now: start), .drop)
        XCTAssertEqual(limiter.admit(now: start), .drop)
        XCTAssertEqual(limiter.admit(now: start + .milliseconds(500)), .log(suppressedBefore: 2))
        XCTAssertEqual(limiter.admit(now: start + .milliseconds(500)), .drop)
    }
}
