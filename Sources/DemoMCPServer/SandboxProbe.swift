import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The `sandbox_probe` tool (tests only, listed with `--sandbox-probe`): acts like a compromised
/// child and reports what it could reach: every process it can see in `/proc` (and which of
/// them expose a Forgejo token other than its own in their environment: bwrap's init inside the
/// sandbox shares the child's own environment), and each target path (the broker's
/// secret key, database, admin socket, a sibling's `/proc/<pid>/environ`, …), read or connected to.
enum SandboxProbe {
    static func run(targets: [String], ownToken: String?, tokenVariable: String = "FORGEJO_ACCESS_TOKEN") -> JSONValue {
        let own = tokenVariable + "=" + (ownToken ?? "")
        let me = getpid()
        var processes: [JSONValue] = []
        var tokenEnvirons: [JSONValue] = []
        for pid in visiblePIDs() where pid != me {
            let command = read("/proc/\(pid)/comm").map { String(decoding: $0, as: UTF8.self) }?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            let environ = read("/proc/\(pid)/environ")
            processes.append(["pid": .int(Int64(pid)), "command": .string(command), "environReadable": .bool(environ != nil)])
            let entries = environ.map { $0.split(separator: 0).map { String(decoding: $0, as: UTF8.self) } } ?? []
            if entries.contains(where: { $0.hasPrefix(tokenVariable + "=") && $0 != own }) {
                tokenEnvirons.append(.int(Int64(pid)))
            }
        }
        var paths: [String: JSONValue] = [:]
        for path in targets { paths[path] = .string(reach(path)) }
        return [
            "pid": .int(Int64(me)), "uid": .int(Int64(getuid())),
            "otherProcesses": .array(processes), "tokenEnvirons": .array(tokenEnvirons), "targets": .object(paths),
        ]
    }

    private static func visiblePIDs() -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).sorted()
    }

    /// "readable", "connectable" (a socket accepted a connection), or "unreadable: <reason>".
    static func reach(_ path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "unreadable: " + String(cString: strerror(errno)) }
        if info.st_mode & S_IFMT == S_IFSOCK { return connect(path) }
        return read(path) != nil ? "readable" : "unreadable: " + String(cString: strerror(errno))
    }

    private static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = Glibc.read(fd, &buffer, buffer.count)
        return count >= 0 ? Array(buffer.prefix(count)) : nil
    }

    private static func connect(_ path: String) -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return "unreadable: socket() failed" }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return "unreadable: path too long" }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return result == 0 ? "connectable" : "unreadable: " + String(cString: strerror(errno))
    }
}
