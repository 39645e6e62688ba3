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
    /// Called on the reading thread when a file is complete, with what inspecting it found and
    /// its spooled copy.
    public var onFileSpooled: ((BlobRecord, String) -> Void)?

    /// Creates `kni-spool-<pid>-XXXXXX` under `parent`, first removing spools of processes that
    /// no longer run (an import killed with SIGKILL cannot remove its own).
    public init(parent: String) throws {
        Self.removeStale(in: parent)
        var template = Array("\(parent)/kni-spool-\(getpid())-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) }
        }
        guard let made else { throw InputError.open(path: parent, errno: errno) }
        directory = made
    }

    deinit { remove() }

    /// The spooled copy of the archive file at `path` (normalized, as `ArchiveContents` names it).
    public func file(for path: String) -> String? { files[path] }

    /// Spools a document the importer made itself (docker-save's manifest); returns its path.
    func add(_ bytes: [UInt8]) throws -> String {
        try fileBegan(path: "kind-node-import/\(counter + 1)")
        try bytes.withUnsafeBytes { try fileData($0) }
        closeCurrent()
        return "\(directory)/\(counter)"
    }

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

    public func fileEnded(_ record: BlobRecord) throws {
        closeCurrent()
        if let spooled = files[record.path] { onFileSpooled?(record, spooled) }
    }

    private func closeCurrent() {
        if current >= 0 { close(current) }
        current = -1
    }

    /// Removes `kni-spool-<pid>-*` directories whose process is gone.
    static func removeStale(in parent: String) {
        guard let directory = opendir(parent) else { return }
        var stale: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            let parts = name.split(separator: "-")
            guard parts.count == 4, parts[0] == "kni", parts[1] == "spool", let pid = pid_t(parts[2]) else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { stale.append(parent + "/" + name) }
        }
        closedir(directory)
        for path in stale {
            guard let files = opendir(path) else { continue }
            while let entry = readdir(files) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(files)
            rmdir(path)
        }
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
