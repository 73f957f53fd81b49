import BrokerKit
import Foundation
import XCTest

/// The deployment files (env example, Quadlet unit, systemd unit, compose example, Containerfile)
/// and README's configuration table are written by hand; these tests keep them in step with
/// `Setting.all`, the single list of settings, so a renamed or removed setting cannot linger in a
/// deployment.
final class DeploymentFilesTests: XCTestCase {
    /// Tests/BrokerKitTests/Config/DeploymentFilesTests.swift → repository root.
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every name a deployment may set: each setting's env name, and `<NAME>_FILE` for secrets.
    static let knownNames: Set<String> = Set(Setting.all.map(\.env)).union(Setting.all.filter(\.isSecret).map(\.fileEnv))

    /// Settings README's table leaves out on purpose.
    static let undocumentedByDesign: Set<String> = [
        Setting.cimdAllowPrivate.env, // tests only ("never set it in production")
    ]

    func read(_ relativePath: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let url = Self.root.appendingPathComponent(relativePath)
        do {
            return try String(contentsOf: url, encoding: .utf8)
        } catch {
            XCTFail("cannot read \(url.path): \(error)", file: file, line: line)
            throw error
        }
    }

    // MARK: - parsers

    /// `NAME=value` assignments of an env file, including commented-out examples (`# NAME=value`),
    /// which an operator uncomments as they are.
    static func envFileNames(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: true).compactMap { rawLine in
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") { line = String(line.dropFirst()).trimmingCharacters(in: .whitespaces) }
            return assignmentName(line)
        }
    }

    /// Names assigned by systemd-style `Environment=` lines (several assignments per line allowed,
    /// optionally quoted), in a `.service` or Quadlet `.container` file.
    static func environmentDirectiveNames(_ text: String) -> [String] {
        text.split(separator: "\n").flatMap { rawLine -> [String] in
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard line.hasPrefix("Environment=") else { return [] }
            return words(String(line.dropFirst("Environment=".count))).compactMap(assignmentName)
        }
    }

    /// Names set in a compose file's `environment:` maps (`NAME: value`, also in YAML anchors
    /// that services merge in). Only setting-like names count; other keys are compose's own.
    static func composeEnvironmentNames(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { rawLine in
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard !line.hasPrefix("#"), let colon = line.firstIndex(of: ":") else { return nil }
            return assignmentName(String(line[..<colon]) + "=")
        }
    }

    /// Names set by `ENV` instructions of a Containerfile (`ENV A=b C=d`, continuation lines joined;
    /// the legacy `ENV NAME value` form counts too).
    static func containerfileEnvNames(_ text: String) -> [String] {
        containerfileInstructions(text).flatMap { instruction -> [String] in
            let parts = words(instruction)
            guard let keyword = parts.first, keyword.uppercased() == "ENV" else { return [] }
            let arguments = Array(parts.dropFirst())
            if let first = arguments.first, !first.contains("=") { return [first] }
            return arguments.compactMap(assignmentName)
        }
    }

    /// Logical instructions of a Containerfile: comments and blank lines dropped, continuation
    /// lines joined.
    static func containerfileInstructions(_ text: String) -> [String] {
        var instructions: [String] = []
        var current = ""
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if current.isEmpty && (line.hasPrefix("#") || line.isEmpty) { continue }
            if line.hasSuffix("\\") {
                current += String(line.dropLast()) + " "
            } else {
                instructions.append(current + line)
                current = ""
            }
        }
        return instructions
    }

    /// The build-context paths `COPY`/`ADD` instructions read (sources, not the destination;
    /// flags such as `--chown` skipped; `COPY --from=stage` reads another stage, not the context).
    /// The JSON form `COPY ["a", "b", "dest/"]` counts too.
    static func containerfileCopySources(_ text: String) -> [String] {
        containerfileInstructions(text).flatMap { instruction -> [String] in
            var parts = words(instruction)
            guard let keyword = parts.first, ["COPY", "ADD"].contains(keyword.uppercased()) else { return [] }
            parts.removeFirst()
            if parts.contains(where: { $0.hasPrefix("--from=") }) { return [] }
            parts.removeAll { $0.hasPrefix("--") }
            if parts.first?.hasPrefix("[") == true {
                let json = parts.joined(separator: " ").replacingOccurrences(of: "\"", with: "")
                parts = json.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: ",")
                    .map { $0.trimmingCharacters(in: .whitespaces) }
            }
            return Array(parts.dropLast())
        }
    }

    /// Splits on whitespace outside double quotes and drops the quotes.
    static func words(_ text: String) -> [String] {
        var result: [String] = []
        var word = ""
        var quoted = false
        for character in text {
            if character == "\"" {
                quoted.toggle()
            } else if character.isWhitespace && !quoted {
                if !word.isEmpty { result.append(word) }
                word = ""
            } else {
                word.append(character)
            }
        }
        if !word.isEmpty { result.append(word) }
        return result
    }

    /// `FJMCP_X=...` / `FORGEJO_X=...` → the name; anything else → nil.
    static func assignmentName(_ text: String) -> String? {
        guard let equals = text.firstIndex(of: "=") else { return nil }
        let name = String(text[..<equals])
        guard name.hasPrefix("FJMCP_") || name.hasPrefix("FORGEJO_"),
              name.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isUppercase || $0.isNumber)) })
        else { return nil }
        return name
    }

    func assertAllKnown(_ names: [String], in path: String, minimum: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertGreaterThanOrEqual(names.count, minimum, "\(path): expected at least \(minimum) settings, parsed \(names)", file: file, line: line)
        for name in names where !Self.knownNames.contains(name) {
            XCTFail("\(path) sets \(name), which is not a setting (Setting.all) nor the _FILE variant of a secret one", file: file, line: line)
        }
    }

    // MARK: - parser self-checks

    func testParsersReadTheFormsTheFilesUse() {
        XCTAssertEqual(Self.envFileNames("# comment\nFJMCP_A=1\n  # FORGEJO_B=x y\n# FJMCP_C is prose\nOTHER=1\n"), ["FJMCP_A", "FORGEJO_B"])
        XCTAssertEqual(Self.environmentDirectiveNames("Environment=FJMCP_A=1 \"FORGEJO_B=x y\"\nEnvironmentFile=/x\n"), ["FJMCP_A", "FORGEJO_B"])
        XCTAssertEqual(Self.composeEnvironmentNames("x: &env\n  FJMCP_A: 1\n  # FJMCP_B: 2\n  FORGEJO_C: ${C:?}\n  image: x\n  OTHER_D: 1\n"), ["FJMCP_A", "FORGEJO_C"])
        XCTAssertEqual(Self.containerfileEnvNames("ENV FJMCP_A=1 \\\n    FJMCP_B=2\nENV FJMCP_C 3\n# ENV FJMCP_D=4\nRUN FJMCP_E=5 x\n"), ["FJMCP_A", "FJMCP_B", "FJMCP_C"])
        XCTAssertEqual(
            Self.containerfileCopySources("""
                COPY Package.swift Package.resolved ./
                # COPY secret.key /
                COPY --chown=1:1 \\
                  Sources ./Sources
                COPY --from=build /out/x /usr/local/bin/x
                ADD ["a b", "c", "/dest/"]
                RUN cp Tests /x
                """),
            ["Package.swift", "Package.resolved", "Sources", "a b", "c"])
    }

    // MARK: - deployment files

    func testEnvExampleSetsOnlyKnownSettings() throws {
        let path = "deploy/env/fjmcp-broker.env.example"
        let names = Self.envFileNames(try read(path))
        assertAllKnown(names, in: path, minimum: 5)
        for required in [Setting.publicURL, .forgejoURL, .forgejoClientID] {
            XCTAssertTrue(names.contains(required.env), "\(path) should show the required \(required.env)")
        }
        for secret in Setting.all where secret.isSecret {
            XCTAssertFalse(names.contains(secret.env), "\(path) must not carry \(secret.env) itself; use \(secret.fileEnv)")
        }
    }

    func testQuadletEnvironmentSetsOnlyKnownSettings() throws {
        let path = "deploy/podman/fjmcp-broker.container"
        let text = try read(path)
        let names = Self.environmentDirectiveNames(text)
        assertAllKnown(names, in: path, minimum: 3)
        XCTAssertTrue(names.contains(Setting.forgejoClientSecret.fileEnv))
        XCTAssertTrue(names.contains(Setting.secretKey.fileEnv))
        let published = text.split(separator: "\n").filter { $0.hasPrefix("PublishPort=") }
        XCTAssertFalse(published.isEmpty, "\(path) publishes the port")
        for line in published {
            XCTAssertTrue(line.hasPrefix("PublishPort=127.0.0.1:"), "\(path): \(line) must bind loopback only")
        }
    }

    /// The replica example: every name a setting, and each replica its own FJMCP_REPLICA_URL on
    /// PostgreSQL with the shared secret key from a file (docs/scaling.md).
    func testComposeExampleSetsOnlyKnownSettings() throws {
        let path = "deploy/compose/compose.yaml"
        let text = try read(path)
        // Caddy's service sets the variables Caddyfile.replicas reads ({$NAME}), not settings.
        let caddyfile = try read("deploy/caddy/Caddyfile.replicas")
        let caddyVariables = Set(caddyfile.components(separatedBy: "{$").dropFirst().compactMap { $0.split(separator: "}").first?.split(separator: ":").first.map(String.init) })
        XCTAssertTrue(caddyVariables.contains("FJMCP_UPSTREAMS"), "parsed Caddyfile variables: \(caddyVariables)")
        let names = Self.composeEnvironmentNames(text).filter { !caddyVariables.contains($0) }
        assertAllKnown(names, in: path, minimum: 8)
        for required in [Setting.databaseURL.env, Setting.secretKey.fileEnv, Setting.databasePassword.fileEnv, Setting.forgejoClientSecret.fileEnv] {
            XCTAssertTrue(names.contains(required), "\(path) should set \(required)")
        }
        let replicaURLs = text.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix(Setting.replicaURL.env + ":") }
        XCTAssertEqual(replicaURLs.count, 3, "\(path): one \(Setting.replicaURL.env) per replica")
        XCTAssertEqual(Set(replicaURLs).count, replicaURLs.count, "\(path): each replica needs its own address")
        XCTAssertTrue(text.contains("FJMCP_DATABASE_URL: postgres://"), "\(path): replicas share PostgreSQL")
    }

    func testSystemdUnitSetsOnlyKnownSettings() throws {
        let path = "deploy/systemd/fjmcp-broker.service"
        let text = try read(path)
        let names = Self.environmentDirectiveNames(text)
        assertAllKnown(names, in: path, minimum: 2)
        XCTAssertTrue(text.contains("KillMode=mixed"))
        // systemd credentials show mode 0440 (ACL mask) and the broker refuses such a key file.
        XCTAssertFalse(names.contains(Setting.secretKey.fileEnv) && text.contains("%d/"),
                       "\(path) must not hand the secret key over as a systemd credential")
    }

    func testContainerfileSetsOnlyKnownSettings() throws {
        let path = "Containerfile"
        let text = try read(path)
        let names = Self.containerfileEnvNames(text)
        assertAllKnown(names, in: path, minimum: 2)
        XCTAssertTrue(names.contains(Setting.dataDir.env))
        XCTAssertTrue(names.contains(Setting.listen.env))
        XCTAssertTrue(text.contains("ARG FORGEJO_MCP_SHA256=\n"), "the forgejo-mcp checksum has no default")
        XCTAssertTrue(text.contains("sha256sum -c"), "the forgejo-mcp archive is checked")
    }

    /// A clean clone must build: every path the Containerfile copies from the build context is
    /// tracked by git (a file) or holds tracked files (a folder). `Package.resolved` is the
    /// case this guards: deliberately untracked, so a `COPY` of it fails on a clean clone.
    func testContainerfileCopiesOnlyTrackedFiles() throws {
        let sources = Self.containerfileCopySources(try read("Containerfile"))
        XCTAssertTrue(sources.contains("Package.swift") && sources.contains("Sources"), "parsed COPY sources: \(sources)")
        let tracked = try Self.gitTrackedFiles()
        for source in sources {
            let path = source.hasPrefix("./") ? String(source.dropFirst(2)) : source
            let folder = path.hasSuffix("/") ? path : path + "/"
            XCTAssertTrue(tracked.contains(path) || tracked.contains { $0.hasPrefix(folder) },
                          "Containerfile copies \(source), which git does not track: a clean clone cannot build the image")
        }
    }

    /// `git ls-files` of the repository (a test run always has the checkout: CI clones it).
    static func gitTrackedFiles() throws -> Set<String> {
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        git.arguments = ["git", "-C", root.path, "ls-files", "-z"]
        let output = Pipe()
        git.standardOutput = output
        git.standardError = FileHandle.nullDevice
        try git.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        git.waitUntilExit()
        guard git.terminationStatus == 0 else {
            throw XCTSkip("git ls-files failed (exit \(git.terminationStatus)): not a git checkout")
        }
        let files = Set(String(decoding: data, as: UTF8.self).split(separator: "\0").map(String.init))
        XCTAssertFalse(files.isEmpty, "git ls-files listed nothing")
        return files
    }

    // MARK: - README

    /// The rows of README's "## Configuration" table: the first backticked name of each row.
    static func readmeTableNames(_ readme: String) -> Set<String> {
        var names: Set<String> = []
        var inSection = false
        for rawLine in readme.split(separator: "\n") {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("## ") {
                inSection = line == "## Configuration"
                continue
            }
            guard inSection, line.hasPrefix("|") else { continue }
            let cells = line.split(separator: "|", omittingEmptySubsequences: true)
            guard let first = cells.first else { continue }
            let cell = first.trimmingCharacters(in: .whitespaces)
            guard cell.hasPrefix("`"), let end = cell.dropFirst().firstIndex(of: "`") else { continue }
            var name = String(cell[cell.index(after: cell.startIndex)..<end])
            if let bracket = name.firstIndex(of: "[") { name = String(name[..<bracket]) } // FJMCP_SECRET_KEY[_FILE]
            names.insert(name)
        }
        return names
    }

    func testREADMEConfigurationTableListsEverySetting() throws {
        let listed = Self.readmeTableNames(try read("README.md"))
        XCTAssertGreaterThan(listed.count, 10, "README's configuration table was not found")
        for setting in Setting.all {
            if Self.undocumentedByDesign.contains(setting.env) { continue }
            XCTAssertTrue(listed.contains(setting.env), "README's configuration table lacks \(setting.env)")
        }
        for name in listed {
            XCTAssertTrue(Self.knownNames.contains(name), "README's configuration table lists \(name), which is not a setting")
        }
    }
}
