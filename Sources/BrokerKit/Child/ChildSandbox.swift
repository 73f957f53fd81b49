import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `FJMCP_CHILD_SANDBOX`: whether each child runs confined by bubblewrap.
public enum ChildSandboxMode: String, Sendable, CaseIterable {
    /// Sandbox when bubblewrap works here; otherwise warn once and run children without.
    case auto
    /// Sandbox, or refuse to start.
    case on
    /// Never sandbox.
    case off
}

/// Confines one child with bubblewrap (`bwrap`, design.md "Child sandbox"): its own user, PID,
/// mount, IPC and UTS namespaces, no capabilities, no new privileges (bwrap always sets
/// `PR_SET_NO_NEW_PRIVS`), killed with its parent, and a file system of read-only system
/// directories, the CA certificates and name-service files, a private `/tmp`, a `/proc` of its
/// own PID namespace and a minimal `/dev`. Not there: the data directory (database, secret key,
/// admin socket), `/home`, the rest of `/etc`, other processes. The network namespace is
/// shared: the child must reach Forgejo.
///
/// The process group stays the broker's to signal: bwrap gets no `--new-session`, so the
/// sandboxed command shares bwrap's group and `kill(-pid, …)` reaches the whole tree, while
/// `--die-with-parent` replaces `setpriv --pdeathsig` for a broker that is SIGKILLed.
public struct ChildSandbox: Sendable, Equatable {
    /// Absolute path of the bwrap executable.
    public let helper: String
    /// Shared-library directories outside the system directories that the broker itself runs
    /// on (e.g. a Swift toolchain under /opt for a debug build of the demo child): read-only,
    /// and nothing secret by construction.
    public let libraryDirectories: [String]
    /// Never made visible, even as part of a command's installation root (the data directory).
    public var hiddenPaths: [String] = []

    /// Read-only when present (a symlink such as `/bin -> usr/bin` is recreated as a symlink).
    static let systemPaths = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
    /// The parts of `/etc` a TLS client needs: CA certificates, resolver and name-service
    /// configuration, time zone, users (for libc lookups), the loader cache. Not all of `/etc`:
    /// it may hold the broker's env file with the Forgejo client secret.
    static let etcPaths = [
        "/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf",
        "/etc/host.conf", "/etc/gai.conf", "/etc/localtime", "/etc/passwd", "/etc/group", "/etc/ld.so.cache",
        "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
    ]

    public init(helper: String, libraryDirectories: [String] = ChildSandbox.runtimeLibraryDirectories()) {
        self.helper = helper
        self.libraryDirectories = libraryDirectories
    }

    /// bwrap's command line that runs `executable` (an absolute path) with `arguments` inside.
    public func commandLine(executable: String, arguments: [String]) -> (String, [String]) {
        var words = [
            "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--cap-drop", "ALL",
        ]
        for path in Self.systemPaths {
            if let target = Self.symlinkTarget(path) {
                words += ["--symlink", target, path]
            } else {
                words += ["--ro-bind-try", path, path]
            }
        }
        for path in Self.etcPaths { words += ["--ro-bind-try", path, path] }
        // The private file systems come before the binds below: bwrap applies its arguments in
        // order, so a program that lives under /tmp (a checkout there) stays visible.
        words += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp"]
        for directory in libraryDirectories { words += ["--ro-bind-try", directory, directory] }
        for program in [executable] + (Self.interpreter(of: executable).map { [$0] } ?? []) {
            guard !Self.isCovered(program, by: Self.systemPaths + libraryDirectories) else { continue }
            words += bind(installationOf: program)
        }
        words += ["--chdir", "/tmp", "--", executable]
        return (helper, words + arguments)
    }

    /// Read-only binds that make `program` runnable inside: its installation root, seen at its
    /// real path and, for a symlinked install (a venv reached through a link), at the linked one;
    /// just the program when the root would reveal a hidden path.
    private func bind(installationOf program: String) -> [String] {
        var root = Self.installationRoot(of: program)
        if hiddenPaths.contains(where: { Self.isCovered($0, by: [root, Self.resolved(root)]) }) { root = program }
        let real = Self.resolved(root)
        return ["--ro-bind", real, real] + (real == root ? [] : ["--ro-bind", real, root])
    }

    /// The interpreter a script names on its `#!` line, with symlinks resolved (a venv's
    /// `bin/python` leads to the real installation, e.g. under pyenv); nil for a binary.
    static func interpreter(of executable: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: executable) else { return nil }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 256)) ?? Data()
        guard head.starts(with: Array("#!".utf8)), let line = String(data: head.dropFirst(2), encoding: .utf8)?.split(separator: "\n").first,
            let path = line.split(separator: " ").first.map(String.init), path.hasPrefix("/")
        else { return nil }
        return resolved(path)
    }

    /// What a command outside the system directories needs visible: for `<root>/bin/<command>`
    /// the whole `<root>` (a Python venv's interpreter link, `lib/` and `pyvenv.cfg`, or an
    /// `/opt/<tool>` tree), read-only; otherwise just the executable.
    static func installationRoot(of executable: String) -> String {
        let directory = (executable as NSString).deletingLastPathComponent
        guard (directory as NSString).lastPathComponent == "bin" else { return executable }
        let root = (directory as NSString).deletingLastPathComponent
        return root.isEmpty || root == "/" ? executable : root
    }

    static func resolved(_ path: String) -> String {
        URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }

    /// Directories of the shared libraries mapped into this process that lie outside the
    /// system directories.
    public static func runtimeLibraryDirectories(maps: String? = procSelfMaps()) -> [String] {
        guard let maps else { return [] }
        var directories: Set<String> = []
        for line in maps.split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/") else { continue }
            let path = String(line[slash...])
            let name = path.split(separator: "/").last.map(String.init) ?? ""
            guard name.hasSuffix(".so") || name.contains(".so.") else { continue }
            let directory = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
            if !directory.isEmpty, !isCovered(directory, by: systemPaths) { directories.insert(directory) }
        }
        return directories.sorted()
    }

    /// Read to EOF: /proc files report size 0, so size-based readers get nothing.
    public static func procSelfMaps() -> String? {
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/maps") else { return nil }
        defer { try? handle.close() }
        return (try? handle.readToEnd()).map { String(decoding: $0, as: UTF8.self) }
    }

    static func isCovered(_ path: String, by roots: [String]) -> Bool {
        roots.contains { path == $0 || path.hasPrefix($0 + "/") }
    }

    /// The target of a top-level symlink such as `/lib -> usr/lib`, if `path` is one.
    private static func symlinkTarget(_ path: String) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFLNK else { return nil }
        return try? FileManager.default.destinationOfSymbolicLink(atPath: path)
    }
}

/// Whether the sandbox can be used, decided once per process by running bwrap for real.
public enum ChildSandboxAvailability: Sendable, Equatable {
    case available(ChildSandbox)
    /// Why not, in one operator-facing line naming the missing helper or kernel feature.
    case unavailable(String)
}

extension ChildSandbox {
    /// The helper to use: `configured` (FJMCP_BWRAP_PATH) when set, else `bwrap` on `PATH`.
    public static func locateHelper(configured: String?, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        if let configured, !configured.isEmpty {
            return access(configured, X_OK) == 0 ? configured : nil
        }
        let directories = (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        return directories.map { $0 + "/bwrap" }.first { access($0, X_OK) == 0 }
    }

    private static let probes = Mutex<[String: ChildSandboxAvailability]>([:])

    /// Probes once per helper setting and process (later calls get the same answer): runs
    /// bwrap with the children's namespaces and file system around `true`.
    public static func availability(helperPath configured: String?) -> ChildSandboxAvailability {
        let key = configured ?? ""
        if let known = probes.withLock({ $0[key] }) { return known }
        let result = probe(configured: configured)
        return probes.withLock { probes in
            if let known = probes[key] { return known }
            probes[key] = result
            return result
        }
    }

    static func probe(configured: String?) -> ChildSandboxAvailability {
        guard let helper = locateHelper(configured: configured) else {
            let where_ = (configured?.isEmpty ?? true) ? "on PATH" : "at FJMCP_BWRAP_PATH=\(configured ?? "")"
            return .unavailable("the child sandbox helper bubblewrap (bwrap) was not found \(where_); install it (Debian: apt-get install bubblewrap)")
        }
        let sandbox = ChildSandbox(helper: helper)
        let candidates: [String] = ["/usr/bin/true", "/bin/true"]
        guard let trueCommand = candidates.first(where: { access($0, X_OK) == 0 }) else {
            return .unavailable("the child sandbox cannot be probed: no /usr/bin/true")
        }
        let (executable, arguments) = sandbox.commandLine(executable: trueCommand, arguments: [])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ["PATH": ChildEnvironment.defaultPath]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return .unavailable("the child sandbox helper \(helper) cannot be run: \(error)")
        }
        let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationReason == .exit else {
            return .unavailable("the child sandbox helper \(helper) was killed by signal \(process.terminationStatus)")
        }
        guard process.terminationStatus == 0 else { return .unavailable(explain(said, helper: helper, status: process.terminationStatus)) }
        return .available(sandbox)
    }

    /// bwrap's complaint turned into the kernel feature or container setting that is missing.
    static func explain(_ stderr: String, helper: String, status: Int32) -> String {
        let said = stderr.split(separator: "\n").first.map(String.init) ?? "exit status \(status)"
        let lower = stderr.lowercased()
        if lower.contains("namespace") || lower.contains("uid map") || lower.contains("unshare") || lower.contains("setting up uid") {
            return "the child sandbox needs unprivileged user namespaces, which the kernel refused "
                + "(user.max_user_namespaces, kernel.unprivileged_userns_clone, AppArmor's apparmor_restrict_unprivileged_userns, "
                + "a seccomp profile or systemd's RestrictNamespaces=): \(helper) said: \(said)"
        }
        if lower.contains("proc") {
            return "the child sandbox cannot mount /proc for the child's PID namespace "
                + "(in a container: podman run --security-opt unmask=/proc/*, see docs/deploy-podman.md): \(helper) said: \(said)"
        }
        if lower.contains("mount") || lower.contains("pivot_root") {
            return "the child sandbox cannot set up its mount namespace (mount syscalls filtered, e.g. systemd's "
                + "SystemCallFilter= without @mount): \(helper) said: \(said)"
        }
        return "the child sandbox does not work here: \(helper) said: \(said)"
    }
}
