import Core
import Verification

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A private directory holding a copy of every file of the archive while it is verified, so the
/// archive is read once and containerd sees nothing before the whole archive proved sound.
/// Removed by `remove()` (and `deinit`), on every exit path of the importer.
public final class Spool: ArchiveFileSink {
    public let directory: String
    private var files: [String: String] = [:]
    private var current: Int32 = -1
    private var counter = 0

    /// Creates `kni-spool-XXXXXX` under `parent`.
    public init(parent: String) throws {
        var template = Array("\(parent)/kni-spool-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) }
        }
        guard let made else { throw InputError.open(path: parent, errno: errno) }
        directory = made
    }

    deinit { remove() }

    /// The spooled copy of the archive file at `path` (normalized, as `ArchiveContents` names it).
    public func file(for path: String) -> String? { files[path] }

    public func fileBegan(path: String) throws {
        counter += 1
        let spooled = "\(directory)/\(counter)"
        current = open(spooled, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard current >= 0 else { throw InputError.open(path: spooled, errno: errno) }
        files[path] = spooled
    }

    public func fileData(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = write(current, bytes.baseAddress?.advanced(by: offset), bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw InputError.read(path: "\(directory) (writing the spool)", errno: errno)
            }
            offset += written
        }
    }

    public func fileEnded(path: String) throws {
        if current >= 0 { close(current) }
        current = -1
    }

    /// Deletes the spool and everything in it.
    public func remove() {
        if current >= 0 { close(current) }
        current = -1
        for file in files.values { unlink(file) }
        files.removeAll()
        rmdir(directory)
    }
}
