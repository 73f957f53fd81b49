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
    /// to a file of their choosing. A file that already exists is made 0600 too, since the
    /// mode given to `open` only applies to a file it creates.
    func reopen() -> String? {
        close()
        let opened = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard opened >= 0 else {
            return errno == ELOOP ? "the path is a symbolic link" : String(cString: strerror(errno))
        }
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
