import Foundation
import Logging

/// Loads the broker's master key: from configuration, or from `secret.key` in the data
/// directory, generating that file on first start. A key file others can read is refused
/// rather than used, because it protects every sealed Forgejo token.
public enum SecretKeyStore {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case tooOpen(path: String, mode: String)
        case unreadable(path: String)
        case malformed(path: String)
        case cannotWrite(path: String, reason: String)

        public var description: String {
            switch self {
            case .tooOpen(let path, let mode): "secret key file \(path) has mode \(mode); it must not be readable by group or others (chmod 600)"
            case .unreadable(let path): "secret key file \(path) cannot be read"
            case .malformed(let path): "secret key file \(path) does not hold a 32-byte key (base64, base64url or hex)"
            case .cannotWrite(let path, let reason): "cannot create secret key file \(path): \(reason)"
            }
        }
    }

    public static let fileName = "secret.key"

    public static func load(configured: [UInt8]?, dataDirectory: String, logger: Logger) throws(Failure) -> [UInt8] {
        if let configured { return configured }
        let path = dataDirectory + "/" + fileName
        if FileManager.default.fileExists(atPath: path) {
            return try read(path)
        }
        try ensureDirectory(dataDirectory)
        let key = OpaqueToken.randomBytes(32)
        guard try installAtomically(Base64URL.encode(key) + "\n", at: path) else {
            return try read(path)
        }
        logger.notice("generated a new secret key", metadata: ["path": "\(path)"])
        return key
    }

    /// Writes a private temporary file, syncs it, then links it into place: a crash or a full disk
    /// never leaves a truncated key behind, and two processes starting at once cannot both
    /// install a key (link fails if the name exists; the loser reads the winner's key).
    /// Returns false when another process installed its key first.
    private static func installAtomically(_ text: String, at path: String) throws(Failure) -> Bool {
        let temporary = path + ".tmp-" + Base64URL.encode(OpaqueToken.randomBytes(6))
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw .cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        defer { unlink(temporary) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced else { throw .cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        if link(temporary, path) == 0 { return true }
        if errno == EEXIST { return false }
        throw .cannotWrite(path: path, reason: String(cString: strerror(errno)))
    }

    private static func ensureDirectory(_ directory: String) throws(Failure) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw .cannotWrite(path: directory, reason: "not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw .cannotWrite(path: directory, reason: error.localizedDescription)
        }
    }

    /// Reads a key file, refusing group- or world-readable ones.
    public static func read(_ path: String) throws(Failure) -> [UInt8] {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .unreadable(path: path) }
        if info.st_mode & 0o077 != 0 {
            throw .tooOpen(path: path, mode: String(info.st_mode & 0o777, radix: 8))
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw .unreadable(path: path) }
        guard let key = SecretKeyText.decode(text) else { throw .malformed(path: path) }
        return key
    }
}
