import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The JSON-lines file of the audit trail. Opened for appending (0600, it names users; never
/// through a symlink); a batch is one `write`. `reopen()` after logrotate moved the file away
/// starts a new one at the configured path. Only the trail's writer task uses it.
final class AuditFileSink {
    let path: String
    private var descriptor: Int32 = -1

    init(path: String) {
        self.path = path
    }

    deinit { close() }

    /// Opens (again); the error text when the file cannot be opened. A symlink at the path is
    /// refused (`O_NOFOLLOW`): whoever could plant one would make the broker append its records
    /// to a file of their choosing. So is anything but a regular file: opening a FIFO for
    /// writing waits for a reader (`O_NONBLOCK` makes it fail instead; it changes nothing for a
    /// regular file), and a FIFO or device would swallow or stall records. A file that already
    /// exists is made 0600 too, since the mode given to `open` only applies to a file it creates.
    func reopen() -> String? {
        close()
        let opened = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o600)
        guard opened >= 0 else {
            switch errno {
            case ELOOP: return Self.problem(withType: S_IFLNK)
            case ENXIO: return Self.notRegular  // a FIFO without a reader, a device without its driver
            default: return String(cString: strerror(errno))
            }
        }
        var info = stat()
        if fstat(opened, &info) == 0, let problem = Self.problem(withType: info.st_mode) {
            Glibc.close(opened)
            return problem
        }
        return adopt(opened)
    }

    /// Why a file of this type (`st_mode`) cannot be the audit log; nil for a regular file.
    static func problem(withType mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: nil
        case S_IFLNK: "is a symbolic link (the audit log is never opened through one)"
        case S_IFDIR: "is a directory"
        default: notRegular
        }
    }

    private static let notRegular = "is not a regular file (a FIFO, socket or device would block or lose records)"

    /// Makes the opened regular file private and keeps it; the error text otherwise.
    private func adopt(_ opened: Int32) -> String? {
        guard fchmod(opened, 0o600) == 0 else {
            let problem = String(cString: strerror(errno))
            Glibc.close(opened)
            return "cannot make the file private (0600): \(problem)"
        }
        descriptor = opened
        return nil
    }

    /// Appends the bytes; the error text when they could not all be written.
    func write(_ bytes: [UInt8]) -> String? {
        if descriptor < 0, let problem = reopen() { return problem }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                buffer.baseAddress.map { Glibc.write(descriptor, $0 + offset, buffer.count - offset) } ?? 0
            }
            if written < 0 {
                if errno == EINTR { continue }
                return String(cString: strerror(errno))
            }
            offset += written
        }
        return nil
    }

    func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }
}
